"""Options dataclasses of the solvers: typed fields with help, choices and ranges, validated on
construction, and one converter from text (command line, ``-o KEY=VALUE``, JSON/YAML configs).

The dataclass defaults ARE the defaults: the command line's flags and help are generated from
these fields (the ``cli`` package), and ``solve()`` with ``options=None`` uses them.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any


def opt(default, help: str, *, choices=None, min=None, max=None, min_open: bool = False, flag: str | None = None,
        aliases: tuple[str, ...] = ()):
    """A documented option field. ``min``/``max`` bound numbers (``min_open``: strictly above min);
    ``choices`` restrict strings; ``aliases`` are extra command-line spellings."""
    meta = {"help": help, "choices": tuple(choices) if choices else None, "min": min, "max": max,
            "min_open": min_open, "aliases": tuple(aliases)}
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def default_of(cls, name: str, default):
    """The option ``name`` of options class ``cls`` (help, choices, bounds) with another default —
    for a method whose defaults differ from the shared ones."""
    f = cls.__dataclass_fields__[name]
    return dataclasses.field(default=default, metadata=f.metadata)


def _type_parts(hint) -> tuple[set, bool]:
    """The allowed base types of a type hint and whether None is allowed."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        parts = set()
        none = False
        for a in typing.get_args(hint):
            if a is type(None):
                none = True
            else:
                p, n = _type_parts(a)
                parts |= p
                none |= n
        return parts, none
    if origin is tuple:
        return {tuple}, False
    return {hint}, False


def coerce(cls, name: str, value: Any):
    """``value`` (text or a Python value) converted to field ``name`` of options class ``cls``."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if name not in fields:
        raise ValueError(f"unknown option {name!r} for {cls.__name__}; its options are: {', '.join(fields)}")
    parts, none_ok = _type_parts(hints[name])
    if isinstance(value, str):
        low = value.strip().lower()
        if none_ok and low in ("none", "null", ""):
            return None
        if bool in parts:
            if low in ("true", "yes", "on", "1"):
                return True
            if low in ("false", "no", "off", "0"):
                return False
        if tuple in parts:
            elem = typing.get_args(hints[name])
            conv = float if float in elem else int if int in elem else str
            return tuple(conv(v) for v in value.split(","))
        for typ in (int, float):
            if typ in parts:
                try:
                    return typ(value)
                except ValueError:
                    pass
        if str in parts:
            return value
        raise ValueError(f"option {name}: cannot read {value!r} as {hints[name]}")
    if value is None:
        if not none_ok:
            raise ValueError(f"option {name} cannot be None")
        return None
    if isinstance(value, bool):
        if bool in parts:
            return value
        raise ValueError(f"option {name}: expected {hints[name]}, got {value!r}")
    if isinstance(value, int) and int not in parts and float in parts:
        return float(value)
    if isinstance(value, (list, tuple)) and tuple in parts:
        return tuple(value)
    if not any(isinstance(value, p) for p in parts if isinstance(p, type)):
        raise ValueError(f"option {name}: expected {hints[name]}, got {value!r}")
    return value


@dataclasses.dataclass
class Options:
    """Base of every solver's options: validates types, choices and ranges on construction."""

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            v = coerce(type(self), f.name, v)
            object.__setattr__(self, f.name, v)
            m = f.metadata
            if v is None:
                continue
            if m.get("choices") and isinstance(v, str) and v not in m["choices"]:
                # a field like t0 may be a number or one of its named choices
                raise ValueError(f"{type(self).__name__}.{f.name} = {v!r}: choose one of {', '.join(map(str, m['choices']))}")
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                if isinstance(v, float) and not math.isfinite(v):
                    raise ValueError(f"{type(self).__name__}.{f.name} must be finite, got {v}")
                lo, hi = m.get("min"), m.get("max")
                if lo is not None and (v < lo or (m.get("min_open") and v == lo)):
                    rel = ">" if m.get("min_open") else ">="
                    raise ValueError(f"{type(self).__name__}.{f.name} must be {rel} {lo}, got {v}")
                if hi is not None and v > hi:
                    raise ValueError(f"{type(self).__name__}.{f.name} must be <= {hi}, got {v}")

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def replace(self, **changes) -> "Options":
        """A copy with ``changes`` (text or values), each checked against the fields."""
        for k in changes:
            if k not in self.field_names():
                raise ValueError(f"unknown option {k!r} for {type(self).__name__}; its options are: "
                                 f"{', '.join(self.field_names())}")
        return dataclasses.replace(self, **{k: coerce(type(self), k, v) for k, v in changes.items()})

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}


def parse_assignment(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` → (key with '-' as '_', the value text)."""
    if "=" not in text:
        raise ValueError(f"--option expects KEY=VALUE, got {text!r}")
    k, v = text.split("=", 1)
    return k.strip().replace("-", "_"), v.strip()


def parse_assignments(text: str | None) -> dict[str, str]:
    """``KEY=VALUE,KEY=VALUE,…`` (empty or None: nothing) → ``{key: value text}`` (``parse_assignment`` each)."""
    return dict(parse_assignment(x) for x in filter(None, (text or "").split(",")))
