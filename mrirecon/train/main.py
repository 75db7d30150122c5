"""``mrirecon train {unet,prior,sr3,srnet} [--field value ...] [--config FILE]`` and ``mrirecon train export``.

Flags are generated from the objective's config dataclass (help and defaults shown); ``--config``
reads a YAML/JSON file of the same fields (e.g. a previous run's ``last/state.json`` ``config``),
and flags given on the command line override it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from pathlib import Path


def _converter(hint: str, default):
    if "tuple" in hint:
        elem = float if "float" in hint else int if "int" in hint else str
        return lambda s: tuple(elem(v) for v in str(s).split(","))
    if "bool" in hint:
        return lambda s: str(s).lower() in ("1", "true", "yes", "on")
    if hint.startswith("str | None") or hint == "typing.Optional[str]":
        return lambda s: None if str(s).lower() == "none" else str(s)
    if "float" in hint:
        return lambda s: None if str(s).lower() == "none" else float(s)
    if "int" in hint:
        return lambda s: None if str(s).lower() == "none" else int(s)
    return str


def _help(text: str, default) -> str:
    return text if "default" in text else f"{text} (default: {default})"


def config_parser(cls, prog: str) -> argparse.ArgumentParser:
    from mrirecon.help_format import HelpFormatter

    hints = typing.get_type_hints(cls)
    p = argparse.ArgumentParser(prog=prog, description=(cls.__doc__ or "").strip().splitlines()[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--config", default=None, help="YAML/JSON file of these fields; flags override it")
    aliases = {"steps": ["--max-steps"], "max_minutes": ["--max-time"]}
    for f in dataclasses.fields(cls):
        d = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        p.add_argument(f"--{f.name.replace('_', '-')}", *aliases.get(f.name, []), dest=f.name,
                       type=_converter(str(hints[f.name]), d), default=None, metavar=f.name.upper(),
                       help=_help(f.metadata.get("help", ""), d).replace("%", "%%"))
    return p


def parse_config(cls, argv, prog: str):
    a = config_parser(cls, prog).parse_args(argv)
    values: dict = {}
    if a.config:
        import yaml

        text = Path(a.config).read_text()
        loaded = yaml.safe_load(text) if not a.config.endswith(".json") else json.loads(text)
        loaded = loaded.get("config", loaded)  # a state.json / run_config.json holds it under "config"
        names = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(loaded) - names)
        if bad:
            raise ValueError(f"{a.config}: unknown fields {bad} for {cls.__name__}")
        values.update({k: tuple(v) if isinstance(v, list) else v for k, v in loaded.items()})
    values.update({k: v for k, v in vars(a).items() if k != "config" and v is not None})
    return cls(**values)


def main(what: str, argv: list[str]) -> int:
    from mrirecon.train.loop import train
    from mrirecon.train.objectives import OBJECTIVES

    if what == "export":
        from mrirecon.train.export import main as export_main

        return export_main(argv)
    if what not in OBJECTIVES:
        print(f"error: unknown training objective {what!r}: {', '.join(OBJECTIVES)}, export", file=sys.stderr)
        return 2
    obj_cls, cfg_cls = OBJECTIVES[what]
    try:
        cfg = parse_config(cfg_cls, argv, f"mrirecon train {what}")
        best = train(obj_cls(cfg), cfg)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"best weights: {best}")
    return 0
