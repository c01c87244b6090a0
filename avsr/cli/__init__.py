"""The ``avsr`` command: parse arguments, call the library, print. One module per command
(:mod:`avsr.cli.roi`, ``train``, ``evaluate``, ``transcribe``, ``models``, ``cache``); this one builds the
parser and turns every :class:`~avsr.core.errors.AvsrError` into ``avsr COMMAND: error: MESSAGE``
and its exit code. Exit codes: 0 success, 1 some inputs failed (the others were processed),
2 usage error (bad options, missing or unloadable models) or output that cannot be written,
130 interrupted (Ctrl-C), 143 terminated (SIGTERM)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from avsr.cli import cache, evaluate, models, roi, train, transcribe
from avsr.core.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, EXIT_USAGE, AvsrError
from avsr.core.version import __version__


def _quiet_native_logs() -> None:
    # mediapipe / TFLite log through glog and absl to stderr; keep the terminal for our output
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that reports unknown arguments itself: the (sub)command that received
    them prints its own usage, and names the closest flag it knows. (Plain argparse hands a
    subcommand's leftovers up to the top-level parser, whose usage says nothing about them.)
    Subparsers inherit the class."""

    def parse_known_args(self, args=None, namespace=None):
        ns, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}{self._suggest(extras)}")
        return ns, extras

    def _suggest(self, extras: list[str]) -> str:
        import difflib

        known = {o[2:]: o for o in self._option_string_actions if o.startswith("--")}
        tips = {}
        for a in extras:
            flag = a.split("=", 1)[0]
            close = difflib.get_close_matches(flag[2:], known, n=1) if flag.startswith("--") else []
            if close:
                tips[flag] = known[close[0]]
        if len(tips) == 1:
            return f" (did you mean {next(iter(tips.values()))}?)"
        return f" (did you mean {', '.join(f'{k} -> {v}' for k, v in tips.items())}?)" if tips else ""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="avsr", description="Visual and audio-visual speech recognition.")
    parser.add_argument("--version", action="version", version=f"avsr {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (roi, train, evaluate, transcribe, models, cache):
        command.add(sub)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's stop, ``kill``): stopped like Ctrl-C, finished work kept."""


def _terminate(signum, frame) -> None:
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    _quiet_native_logs()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return args.func(args)
    except AvsrError as e:
        print(f"avsr {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except OSError as e:  # a file system refusal outside the paths avsr checks itself (read-only, no space)
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"avsr {args.command}: error: {where}{e.strerror or e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as e:
        what = "terminated" if isinstance(e, Terminated) else "interrupted"
        print(f"{what}; finished clips are kept, re-run the same command to continue", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(e, Terminated) else EXIT_INTERRUPTED
