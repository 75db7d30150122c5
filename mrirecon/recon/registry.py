"""The method registry: one place maps a method name to its solver and its options dataclass.

Every solver has the contract ``solve(physics, y, prior=None, *, init=None, options=None,
generator=None, callback=None) -> Result``. Methods are registered per task — ``"mri"``
(k-space reconstruction) or ``"sr"`` (super-resolution) — because the same solver code (CCDF,
RED-diff) runs with another operator and its own defaults there; the options dataclass registered
for (task, name) holds THE defaults for that use (the command line is generated from it).

``networks`` names what the engine must load for a method: ``"prior"`` (passed as ``prior``),
``"unet"`` (for ``unet`` itself the network is the ``prior`` argument; for CCDF / RED-diff it is the
initializer passed as ``init``), ``"srnet"`` (the same two roles for super-resolution: the SR U-Net),
``"sr3"`` (the conditional prior).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

TASKS = ("mri", "sr")


@dataclasses.dataclass(frozen=True)
class Method:
    name: str
    task: str
    solve: Callable
    options: type
    networks: tuple[str, ...] = ()
    summary: str = ""

    def make_options(self, values: dict | None = None):
        """The options dataclass with ``values`` (text or values) applied; unknown keys are errors
        naming this method's options."""
        values = dict(values or {})
        names = self.options.field_names()
        bad = sorted(set(values) - set(names))
        if bad:
            raise ValueError(f"method {self.name!r} has no option {', '.join(map(repr, bad))}; "
                             f"its options are: {', '.join(names) or '(none)'}")
        return self.options().replace(**values) if values else self.options()


_METHODS: dict[tuple[str, str], Method] = {}


def register(name: str, options: type, *, task: str = "mri", networks: tuple[str, ...] = (), summary: str = ""):
    """Decorator: register ``solve`` as method ``name`` for ``task`` with its options dataclass."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}")

    def deco(fn):
        _METHODS[(task, name)] = Method(name, task, fn, options, tuple(networks), summary)
        return fn
    return deco


def _load() -> None:
    import mrirecon.recon  # noqa: F401  (imports every solver module, which registers itself)


def methods(task: str = "mri") -> dict[str, Method]:
    _load()
    return {n: m for (t, n), m in _METHODS.items() if t == task}


def get(name: str, task: str = "mri") -> Method:
    ms = methods(task)
    if name not in ms:
        raise ValueError(f"unknown {task} method {name!r}; available: {', '.join(ms)}")
    return ms[name]
