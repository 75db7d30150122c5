"""torchrun support: when ``WORLD_SIZE > 1`` the files are sharded across ranks (``files[rank::world]``),
each rank uses one GPU (``LOCAL_RANK``) when CUDA exists, else CPU with the gloo backend."""

from __future__ import annotations

import contextlib
import os

import torch


@contextlib.contextmanager
def dist_context(device_pref: str = "auto"):
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        yield 0, 1, None
        return
    import torch.distributed as dist

    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device_pref in ("auto", "cuda")
    if use_cuda:
        torch.cuda.set_device(local)
    dist.init_process_group("nccl" if use_cuda else "gloo")
    try:
        yield rank, world, (f"cuda:{local}" if use_cuda else "cpu")
    finally:
        dist.barrier()
        dist.destroy_process_group()


def barrier():
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def merge_failures(out, res: dict, rank: int, world: int):
    """Under torchrun: rank 0 merges every rank's ``failures.rankN.json`` into ``failures.json``."""
    import json
    from pathlib import Path

    from mrirecon.io.atomic import atomic_path

    if world == 1:
        return res["failed"]
    out = Path(out)
    barrier()
    allf = []
    if rank == 0:
        for r in range(world):
            p = out / f"failures.rank{r}.json"
            if p.exists():
                allf += json.loads(p.read_text())
        with atomic_path(out / "failures.json") as tmp:
            Path(tmp).write_text(json.dumps(allf, indent=2))
    barrier()
    return json.loads((out / "failures.json").read_text())
