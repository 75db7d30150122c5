"""Command-line flags generated from the method registry's options dataclasses.

Every field of every registered method's options becomes one flag (``--field-name``, plus the
field's aliases), with the field's help, each method's default and the choices. Values stay text
until the chosen method's dataclass converts and validates them, so a flag the method does not use
is an error naming its options, and a value given both as a flag and as ``-o KEY=VALUE`` is an error.
"""

from __future__ import annotations

import argparse
import dataclasses

from mrirecon.recon import registry
from mrirecon.recon.options import parse_assignment


def _fields(task: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for name, m in registry.methods(task).items():
        for f in dataclasses.fields(m.options):
            out.setdefault(f.name, []).append((name, f))
    return out


def add_method_flags(p: argparse.ArgumentParser, task: str = "mri") -> None:
    ms = registry.methods(task)
    s = p.add_argument_group("method", "the method and its options (defaults per method; any option also as "
                                       "-o KEY=VALUE)")
    s.add_argument("--method", default="zero-filled" if task == "mri" else "unet", choices=list(ms),
                   help="; ".join(f"{n}: {m.summary}" for n, m in ms.items()) + " (default: %(default)s)")
    for name, uses in _fields(task).items():
        f0 = uses[0][1]
        meta = f0.metadata
        defaults = ", ".join(f"{m}={_show(f.default if f.default is not dataclasses.MISSING else f.default_factory())}"
                             for m, f in uses)
        choices = meta.get("choices")
        help_ = f"{meta.get('help', '')} [defaults: {defaults}]" + (f" {{{', '.join(choices)}}}" if choices else "")
        s.add_argument(f"--{name.replace('_', '-')}", *meta.get("aliases", ()), dest=f"opt__{name}", default=None,
                       metavar=name.upper(), help=help_.replace("%", "%%"))
    s.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                   help="an option of the method, e.g. -o zeta=3 (dps) or -o init=zero-filled (ccdf); repeatable")


def _show(v) -> str:
    if isinstance(v, tuple):
        return ",".join(map(str, v))
    return "none" if v is None else str(v).lower() if isinstance(v, bool) else str(v)


def _given(a: argparse.Namespace) -> tuple[dict, dict]:
    """(flags, -o values) given on the command line; a key given both ways is an error."""
    flags = {k[len("opt__"):]: v for k, v in vars(a).items() if k.startswith("opt__") and v is not None}
    extra: dict = {}
    for text in a.option:
        k, v = parse_assignment(text)
        if k in extra:
            raise ValueError(f"-o {k} given twice")
        extra[k] = v
    both = sorted(set(flags) & set(extra))
    if both:
        k = both[0]
        raise ValueError(f"option {k} given twice: --{k.replace('_', '-')} {flags[k]} and -o {k}={extra[k]}; give it once")
    return flags, extra


def method_options(a: argparse.Namespace, task: str = "mri") -> dict:
    """The option overrides given on the command line for ``a.method``, checked against its options."""
    m = registry.get(a.method, task)
    flags, extra = _given(a)
    values = {**flags, **extra}
    names = m.options.field_names()
    bad = sorted(set(values) - set(names))
    if bad:
        shown = ", ".join(f"--{b.replace('_', '-')}" if b in flags else f"-o {b}" for b in bad)
        raise ValueError(f"{shown}: not an option of method {a.method!r}; its options are: {', '.join(names) or '(none)'}")
    m.make_options(values)  # validate now (types, ranges, choices), before any file is touched
    return values


def sweep_options(a: argparse.Namespace, methods, task: str = "mri") -> dict[str, dict]:
    """Per-method overrides for a sweep: each option goes to the methods that have it; an option no
    method of the sweep has is an error."""
    flags, extra = _given(a)
    values = {**flags, **extra}
    out = {}
    used = set()
    for name in methods:
        m = registry.get(name, task)
        mine = {k: v for k, v in values.items() if k in m.options.field_names()}
        m.make_options(mine)
        used |= set(mine)
        out[name] = mine
    unused = sorted(set(values) - used)
    if unused:
        raise ValueError(f"option(s) {', '.join(unused)} are not options of any of {', '.join(methods)}")
    return out


def describe_methods(task: str = "mri") -> str:
    """A listing of the registered methods with their options and defaults (``mrirecon methods``)."""
    lines = []
    for name, m in registry.methods(task).items():
        lines.append(f"{name}: {m.summary}" + (f"  (networks: {', '.join(m.networks)})" if m.networks else ""))
        for f in dataclasses.fields(m.options):
            d = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            ch = f.metadata.get("choices")
            lines.append(f"    {f.name} = {_show(d)}" + (f"  {{{', '.join(ch)}}}" if ch else "")
                         + f"  {f.metadata.get('help', '')}")
    return "\n".join(lines)
