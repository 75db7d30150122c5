"""Expose a config dataclass's fields as ``--field-name`` command-line options."""

from __future__ import annotations

import argparse
import dataclasses
import typing


def _conv(default, hint: str):
    if isinstance(default, tuple) or "tuple" in hint:
        elem = float if "float" in hint else int if "int" in hint else str
        return lambda s: tuple(elem(v) for v in s.split(","))
    if isinstance(default, bool):
        return lambda s: s.lower() in ("1", "true", "yes", "on")
    if "float" in hint:
        return float
    if "int" in hint:
        return int
    return str


def parse_dataclass(cls, argv=None):
    hints = typing.get_type_hints(cls)
    p = argparse.ArgumentParser(description=(cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else None)
    for f in dataclasses.fields(cls):
        hint = str(hints.get(f.name, ""))
        p.add_argument(f"--{f.name.replace('_', '-')}", type=_conv(f.default, hint), default=f.default,
                       help=f"default: {f.default}")
    return cls(**vars(p.parse_args(argv)))
