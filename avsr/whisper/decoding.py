"""Whisper's decoding policy, one implementation for both engines (PyTorch and CTranslate2).

An engine supplies ``decode(indices, temperature) -> [Hypothesis]`` for some items of a batch;
:func:`decode_with_fallback` does the rest as Whisper (and faster-whisper) does:

- at temperature 0: greedy or beam search; when the text compresses too well (zlib ratio above
  2.4: a repetition loop) or its average log-probability is below -1.0, decode again by
  sampling at 0.2, 0.4, ... 1.0 (``best_of`` samples, the most probable kept); when every
  temperature fails, the best result under the compression threshold is kept;
- no speech: a segment whose no-speech probability (of ``<|nospeech|>`` right after
  ``<|startoftranscript|>``) is above 0.6 and whose average log-probability is below -1.0 gives
  no text (and does not trigger the fallback);
- digital silence (peak below ``silence_peak``) and near-silent tracks (RMS below -60 dBFS) are
  not decoded at all: Whisper would say "you" (on digital silence its own no-speech test does not
  catch it: average log-probability -0.56), and on a track at -70 dBFS the no-speech test is a
  coin toss (average log-probability -1.03 against the -1.0 threshold).

Average log-probability: the summed log-probabilities of the text tokens and the end token over
their count (text tokens + 1), as faster-whisper computes it.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from avsr.core.errors import ConfigError

WHISPER_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass(frozen=True)
class DecodingOptions:
    """Whisper's transcription options, with Whisper's defaults (None switches a test off)."""

    beam_size: int = 1
    best_of: int = 5  # samples drawn at each fallback temperature
    temperatures: tuple[float, ...] = WHISPER_TEMPERATURES
    compression_ratio_threshold: float | None = 2.4
    logprob_threshold: float | None = -1.0
    no_speech_threshold: float | None = 0.6
    silence_peak: float | None = 1e-4  # |sample| below this everywhere: digital silence, not decoded
    silence_dbfs: float | None = -60.0  # RMS below this (a near-silent track): not decoded either
    max_new_tokens: int | None = None
    language: str | None = "en"
    seed: int | None = 0  # fallback sampling is seeded: the same input gives the same text (None: not seeded)
    word_timestamps: bool = False  # each word's start / end from the alignment heads (avsr.whisper.timestamps)

    def __post_init__(self) -> None:
        if self.beam_size < 1 or self.best_of < 1:
            raise ConfigError(f"beam_size and best_of must be >= 1 (got {self.beam_size}, {self.best_of})")
        if not self.temperatures or any(t < 0 for t in self.temperatures):
            raise ConfigError(f"temperatures must be a non-empty list of values >= 0 (got {self.temperatures})")
        object.__setattr__(self, "temperatures", tuple(float(t) for t in self.temperatures))


@dataclass
class Hypothesis:
    """One decoded segment: its text tokens (no special tokens), text and scores."""

    tokens: list[int]
    text: str
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    temperature: float = 0.0
    fallbacks: int = 0  # decodes redone at a higher temperature
    skipped: str | None = None  # why no text: "silence" (digital), "no-speech"
    words: list[dict] | None = None  # with word_timestamps: {word, start, end, probability}, seconds in the window
    extra: dict = field(default_factory=dict)

    @property
    def compression_ratio(self) -> float:
        return compression_ratio(self.text)


def summary(h: Hypothesis) -> dict[str, float | str | None]:
    """The fields a segment record carries, as whisper's segments do."""
    return {
        "avg_logprob": round(h.avg_logprob, 4),
        "no_speech_prob": round(h.no_speech_prob, 4),
        "temperature": h.temperature,
        "compression_ratio": round(h.compression_ratio, 3),
        "skipped": h.skipped,
    }


def compression_ratio(text: str) -> float:
    """Bytes of ``text`` over bytes of its zlib compression (Whisper's repetition test; 0 for "")."""
    b = text.encode("utf-8")
    return len(b) / len(zlib.compress(b)) if b else 0.0


def text_tokens(ids: Sequence[int], eot: int) -> list[int]:
    """The generated ids before the first special token (end of text, timestamps, ...)."""
    return list(itertools.takewhile(lambda t: t < eot, ids))


def sample_len(max_length: int | None, opts: DecodingOptions) -> int:
    """Tokens a decode may sample: half the decoder's context as Whisper's ``sample_len`` (224 of
    448; CTranslate2's ``max_length`` counts the same way), or ``max_new_tokens`` if fewer."""
    n = min(448, max_length or 448) // 2
    return min(n, opts.max_new_tokens) if opts.max_new_tokens else n


def avg_logprob(token_logprobs: Sequence[float]) -> float:
    """Summed log-probabilities of the text tokens and the end token over (text tokens + 1)."""
    return float(sum(token_logprobs)) / max(len(token_logprobs), 1)


def is_silent(audio: np.ndarray | None, opts: DecodingOptions) -> bool:
    """Silence not worth a decode: no sample reaches ``silence_peak`` (digital silence), or the RMS
    is below ``silence_dbfs`` (a near-silent track); empty audio counts as silent, None (audio not
    at hand) does not."""
    if audio is None:
        return False
    a = np.asarray(audio, dtype=np.float64)
    if a.size == 0:
        return True
    quiet_peak = opts.silence_peak is not None and float(np.abs(a).max()) < opts.silence_peak
    quiet_rms = opts.silence_dbfs is not None and float(np.sqrt(np.mean(a * a))) < 10 ** (opts.silence_dbfs / 20)
    return quiet_peak or quiet_rms


def _failed(h: Hypothesis, opts: DecodingOptions) -> bool:
    too_repetitive = (
        opts.compression_ratio_threshold is not None and h.compression_ratio > opts.compression_ratio_threshold
    )
    improbable = opts.logprob_threshold is not None and h.avg_logprob < opts.logprob_threshold
    return (too_repetitive or improbable) and not _no_speech(h, opts)


def _no_speech(h: Hypothesis, opts: DecodingOptions) -> bool:
    return (
        opts.no_speech_threshold is not None
        and h.no_speech_prob > opts.no_speech_threshold
        and opts.logprob_threshold is not None
        and h.avg_logprob < opts.logprob_threshold
    )


def _skip(h: Hypothesis, opts: DecodingOptions) -> bool:
    """Whisper's final test: no-speech probability above the threshold, unless the text is
    confident (average log-probability above the threshold)."""
    if opts.no_speech_threshold is None or h.no_speech_prob <= opts.no_speech_threshold:
        return False
    return not (opts.logprob_threshold is not None and h.avg_logprob > opts.logprob_threshold)


def _best(tried: list[Hypothesis], opts: DecodingOptions) -> Hypothesis:
    ok = [
        h
        for h in tried
        if opts.compression_ratio_threshold is None or h.compression_ratio <= opts.compression_ratio_threshold
    ]
    return max(ok or tried, key=lambda h: h.avg_logprob)


def decode_with_fallback(
    decode: Callable[[list[int], float], list[Hypothesis]],
    audio: Sequence[np.ndarray | None],
    opts: DecodingOptions,
) -> list[Hypothesis]:
    """One hypothesis per item of ``audio`` (the segments' samples, for the silence test; None
    where not at hand). ``decode(indices, temperature)``: the engine's decode of those items
    (beam search at 0; ``best_of`` samples above 0, the most probable returned)."""
    out: list[Hypothesis | None] = [None] * len(audio)
    tried: dict[int, list[Hypothesis]] = {}
    todo = []
    for i, a in enumerate(audio):
        if is_silent(a, opts):
            out[i] = Hypothesis([], "", no_speech_prob=1.0, skipped="silence")
        else:
            todo.append(i)
    for step, t in enumerate(opts.temperatures):
        if not todo:
            break
        again = []
        for i, h in zip(todo, decode(todo, t)):
            h.temperature, h.fallbacks = t, step
            tried.setdefault(i, []).append(h)
            if _failed(h, opts):
                again.append(i)
            else:
                out[i] = h
        todo = again
    for i in todo:  # every temperature failed
        out[i] = replace(_best(tried[i], opts), fallbacks=len(opts.temperatures) - 1)
    for i, h in enumerate(out):
        if h is not None and h.skipped is None and _skip(h, opts):
            out[i] = replace(h, tokens=[], text="", skipped="no-speech")
    return out  # type: ignore[return-value]
