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


def merge_results(out, res: dict, rank: int, world: int) -> dict:
    """Counts of every rank (``done`` / ``skipped`` / ``failed`` lists of this run) and, under
    torchrun, rank 0 appends every rank's ``failures.rankN.json`` to ``failures.json``."""
    from pathlib import Path

    if world == 1:
        return res
    import torch.distributed as dist

    from mrirecon.pipeline.batch import _append_json

    gathered: list = [None] * world
    dist.all_gather_object(gathered, res)
    merged = {k: [x for r in gathered for x in r[k]] for k in ("done", "skipped", "failed")}
    if rank == 0:
        _append_json(Path(out) / "failures.json", merged["failed"])  # the per-rank files stay for inspection
    barrier()
    return merged
