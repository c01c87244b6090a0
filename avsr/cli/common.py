"""Argument helpers shared by the ``avsr`` commands."""

from __future__ import annotations

import argparse
import sys

from avsr.recognizers.options import ENGINES, ModelOptions
from avsr.whisper.ct2_cache import COMPUTE_TYPES
from avsr.whisper.decoding import DecodingOptions
from avsr.whisper.quantize import QUANTIZE  # no torch import: the parser stays quick


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


def _optional_float(s: str) -> float | None:
    return None if s.lower() in ("none", "off") else float(s)


CHOICES = {
    "engine": ENGINES,
    "compute_type": COMPUTE_TYPES,
    "quantize": QUANTIZE,
    "decode": ("greedy", "beam", "joint", "ctc"),
}


def model_args(g, *names: str, **help_over: str) -> None:
    """One argument per :class:`~avsr.recognizers.options.ModelOptions` field in ``names``, with the
    field's default and help (``help_over``: another help for a command where it reads otherwise)."""
    for name in names:
        f = ModelOptions.__dataclass_fields__[name]
        flag = "--" + name.replace("_", "-")
        text = help_over.get(name, ModelOptions.help(name))
        if f.type in ("bool", bool):
            g.add_argument(flag, action="store_true", help=text)
            continue
        kind = {"int | None": int, "int": int, "float": float, "float | None": float}.get(str(f.type), None)
        g.add_argument(flag, type=kind, default=f.default, choices=CHOICES.get(name), help=text)


def decoding_args(g) -> None:
    """Whisper's decoding options, with :class:`~avsr.whisper.decoding.DecodingOptions`' defaults
    (Whisper's; ``none`` switches a test off)."""
    d = DecodingOptions()
    step = round(d.temperatures[1] - d.temperatures[0], 6) if len(d.temperatures) > 1 else None
    g.add_argument(
        "--temperature-increment-on-fallback",
        type=_optional_float,
        default=step,
        metavar="T",
        help=f"decode again at T, 2T, ... 1.0 when the text loops or is improbable ({step}; none: no fallback)",
    )
    g.add_argument("--best-of", type=int, default=d.best_of, help=f"samples per fallback temperature ({d.best_of})")
    g.add_argument(
        "--compression-ratio-threshold",
        type=_optional_float,
        default=d.compression_ratio_threshold,
        metavar="R",
        help=f"text whose zlib ratio is above R is a loop: fall back ({d.compression_ratio_threshold})",
    )
    g.add_argument(
        "--logprob-threshold",
        type=_optional_float,
        default=d.logprob_threshold,
        metavar="L",
        help=f"average log-probability below L: fall back ({d.logprob_threshold})",
    )
    g.add_argument(
        "--no-speech-threshold",
        type=_optional_float,
        default=d.no_speech_threshold,
        metavar="P",
        help=f"no-speech probability above P with an improbable text: no text ({d.no_speech_threshold})",
    )
    g.add_argument(
        "--word-timestamps",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="each word's start and end, in the output's segments as 'words' (default: computed for --srt/--vtt "
        "cues only, not written; --no-word-timestamps: cues timed by the segments' text length instead)",
    )


def decoding_options(args, beam: int | None, captions: bool = False):
    """The DecodingOptions of the parsed :func:`decoding_args`; word timestamps when asked for, or,
    unless ``--no-word-timestamps``, when ``captions`` are written (they time the cues)."""
    import numpy as np

    from avsr.core.errors import UsageError

    step = args.temperature_increment_on_fallback
    if step is not None and step <= 0:
        raise UsageError("--temperature-increment-on-fallback must be > 0 (or none)")
    temps = (0.0,) if step is None else tuple(float(t) for t in np.round(np.arange(0, 1.0 + 1e-6, step), 6))
    if args.best_of < 1:
        raise UsageError("--best-of must be >= 1")
    return DecodingOptions(
        beam_size=beam or 1,
        best_of=args.best_of,
        temperatures=temps,
        compression_ratio_threshold=args.compression_ratio_threshold,
        logprob_threshold=args.logprob_threshold,
        no_speech_threshold=args.no_speech_threshold,
        word_timestamps=captions if getattr(args, "word_timestamps", None) is None else args.word_timestamps,
    )
