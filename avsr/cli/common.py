"""Argument helpers shared by the ``avsr`` commands."""

from __future__ import annotations

import argparse
import sys


def progress_arg(p: argparse.ArgumentParser) -> None:
    """``--progress/--no-progress`` (default: a bar when stderr is a terminal)."""
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: when stderr is a terminal)",
    )


def show_progress(flag: bool | None) -> bool:
    """The ``--progress`` value, with its default resolved."""
    return sys.stderr.isatty() if flag is None else flag
