"""Argument helpers shared by the ``avsr`` commands."""

from __future__ import annotations

import argparse
import sys

from avsr.av.ct2_cache import COMPUTE_TYPES


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


def engine_args(g, default: str | None) -> None:
    """``--engine ct2|torch`` and ``--compute-type`` (the ct2 engine's)."""
    g.add_argument(
        "--engine",
        choices=["ct2", "torch"],
        default=default,
        help="Whisper's runtime: ct2 (CTranslate2, the default on CPU) or torch (the default on a GPU and "
        "with --quantize)",
    )
    g.add_argument(
        "--compute-type",
        default="float32",
        choices=COMPUTE_TYPES,
        help="the ct2 engine's weights: float32 (default), int8 or int8_float32 (faster; text may differ slightly)",
    )


def decoding_args(g) -> None:
    """Whisper's decoding options, with Whisper's defaults (``none`` switches a test off)."""
    g.add_argument(
        "--temperature-increment-on-fallback",
        type=_optional_float,
        default=0.2,
        metavar="T",
        help="decode again at T, 2T, ... 1.0 when the text loops or is improbable (0.2; none: no fallback)",
    )
    g.add_argument("--best-of", type=int, default=5, help="samples per fallback temperature (5)")
    g.add_argument(
        "--compression-ratio-threshold",
        type=_optional_float,
        default=2.4,
        metavar="R",
        help="text whose zlib ratio is above R is a loop: fall back (2.4)",
    )
    g.add_argument(
        "--logprob-threshold",
        type=_optional_float,
        default=-1.0,
        metavar="L",
        help="average log-probability below L: fall back (-1.0)",
    )
    g.add_argument(
        "--no-speech-threshold",
        type=_optional_float,
        default=0.6,
        metavar="P",
        help="no-speech probability above P with an improbable text: no text for the segment (0.6)",
    )
    g.add_argument(
        "--word-timestamps",
        action="store_true",
        help="each word's start and end (segments get 'words'; --srt/--vtt cues then follow the words)",
    )


def decoding_options(args, beam: int | None):
    """The DecodingOptions of the parsed :func:`decoding_args`."""
    import numpy as np

    from avsr.av.decoding import DecodingOptions
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
        word_timestamps=getattr(args, "word_timestamps", False),
    )
