"""The layout's rules, checked on the source: dependencies point down, no import cycles, the
command line is imported by nobody, every solver has the one contract (test_solvers)."""
import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "mrirecon"


def _modules():
    for p in sorted(PKG.rglob("*.py")):
        rel = p.relative_to(PKG.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), p


def _imports(path: Path, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out = set()
    for n in nodes:
        if isinstance(n, ast.Import):
            out |= {a.name for a in n.names if a.name.startswith("mrirecon")}
        elif isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("mrirecon"):
            out.add(n.module)
            out |= {f"{n.module}.{a.name}" for a in n.names}
    return out


MODS = dict(_modules())


def _resolve(name: str) -> str | None:
    while name and name not in MODS:
        name = name.rpartition(".")[0]
    return name or None


def test_no_import_cycles():
    graph = {m: {r for i in _imports(p, True) if (r := _resolve(i)) and r != m} for m, p in MODS.items()}
    # a package's __init__ importing its own submodules is how registries fill; a cycle through an
    # __init__ and its own submodule is the normal package pattern, so edges child -> own parent are dropped
    for m in graph:
        graph[m] = {d for d in graph[m] if not m.startswith(d + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in graph[m]:
            if state.get(d) == 1:
                pytest.fail("import cycle: " + " -> ".join(stack[stack.index(d):] + [d]))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m)


FORBIDDEN = {  # layer -> layers it must not import (also inside functions)
    "mrirecon.io": ("mrirecon.data", "mrirecon.physics", "mrirecon.models", "mrirecon.diffusion", "mrirecon.recon",
                    "mrirecon.pipeline", "mrirecon.train", "mrirecon.eval", "mrirecon.cli"),
    "mrirecon.physics": ("mrirecon.models", "mrirecon.diffusion", "mrirecon.recon", "mrirecon.pipeline",
                         "mrirecon.train", "mrirecon.cli"),
    "mrirecon.data": ("mrirecon.models", "mrirecon.diffusion", "mrirecon.recon", "mrirecon.pipeline",
                      "mrirecon.train", "mrirecon.cli"),
    "mrirecon.models": ("mrirecon.diffusion", "mrirecon.recon", "mrirecon.pipeline", "mrirecon.train", "mrirecon.cli"),
    "mrirecon.diffusion": ("mrirecon.recon", "mrirecon.pipeline", "mrirecon.train", "mrirecon.cli"),
    "mrirecon.recon": ("mrirecon.pipeline", "mrirecon.train", "mrirecon.cli"),
    "mrirecon.eval": ("mrirecon.recon", "mrirecon.pipeline", "mrirecon.train", "mrirecon.cli"),
    "mrirecon.pipeline": ("mrirecon.train", "mrirecon.cli"),
    "mrirecon.train": ("mrirecon.pipeline", "mrirecon.cli"),
    "mrirecon.interop": ("mrirecon.pipeline", "mrirecon.train", "mrirecon.cli"),
}


def test_dependencies_point_down():
    bad = []
    for m, p in MODS.items():
        for layer, banned in FORBIDDEN.items():
            if m == layer or m.startswith(layer + "."):
                bad += [f"{m} imports {i}" for i in _imports(p, False) if i.startswith(banned)]
    assert not bad, bad


def test_nothing_imports_the_cli():
    root = PKG.parent
    users = []
    for p in list(PKG.rglob("*.py")) + list((root / "benchmarks").rglob("*.py")) + list((root / "scripts").rglob("*.py")):
        rel = p.relative_to(root).as_posix()
        if rel.startswith("mrirecon/cli/") or rel == "mrirecon/__main__.py":
            continue
        if "mrirecon.cli" in p.read_text():
            users.append(rel)
    assert not users, users


def test_nothing_reads_paths_relative_to_the_source_tree():
    offenders = [m for m, p in MODS.items() if "parents[" in p.read_text() or "__file__" in p.read_text()]
    assert not offenders, offenders
