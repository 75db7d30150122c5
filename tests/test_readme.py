"""README.md stays true: its Python snippets run verbatim and print what the README says, and every
`mrirecon ...` command in it parses (flags exist, options belong to the method, values are valid)."""
import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def blocks(lang: str) -> list[tuple[int, str]]:
    return [(m.start(), m.group(1)) for m in re.finditer(rf"```{lang}\n(.*?)```", README, re.S)]


def test_python_snippets_print_what_the_readme_says(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # from another working directory: package data comes from the package
    py, text = blocks("python"), blocks("text")
    assert len(py) >= 2
    ns: dict = {}
    for pos, code in py:
        expected = next(t for p, t in text if p > pos)  # the ```text block after the snippet
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(code, "README.md", "exec"), ns)
        assert buf.getvalue().strip() == expected.strip()


def _commands() -> list[list[str]]:
    cmds = []
    for _, body in blocks("bash"):
        for line in body.splitlines():
            line = line.split("#")[0].strip()
            if line.startswith("mrirecon "):
                cmds.append(shlex.split(line)[1:])
            elif line.startswith("torchrun ") and " -m mrirecon " in line:
                cmds.append(shlex.split(line.split(" -m mrirecon ", 1)[1]))
    return cmds


@pytest.mark.parametrize("argv", _commands(), ids=lambda a: " ".join(a)[:60])
def test_readme_commands_parse(argv):
    from mrirecon.cli.main import build_parser
    from mrirecon.cli.options import method_options, sweep_options

    if argv[0] == "train":
        from mrirecon.train.main import parse_config
        from mrirecon.train.objectives import OBJECTIVES

        if argv[1] in OBJECTIVES and "--help" not in argv:
            parse_config(OBJECTIVES[argv[1]][1], argv[2:], "mrirecon train")
        return
    a = build_parser().parse_args(argv)
    if argv[0] == "reconstruct":
        method_options(a)
    elif argv[0] == "sr":
        method_options(a, task="sr")
    elif argv[0] == "sweep":
        sweep_options(a, a.methods)
