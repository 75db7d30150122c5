"""The help layout of every mrirecon command line (``mrirecon …`` and ``mrirecon train …``)."""

from __future__ import annotations

import argparse


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the line breaks of descriptions and examples, and appends ``(default: …)`` only where the
    help does not already state a default and there is one (None means: decided elsewhere)."""

    def _get_help_string(self, action):
        h = action.help or ""
        if "default" in h or action.default in (None, argparse.SUPPRESS) or not action.option_strings:
            return h
        return h + " (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """``HelpFormatter`` by default; sub-commands' parsers are this class too (argparse's parser_class)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
