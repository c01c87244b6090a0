"""Segmentation: long audio cut into pieces of at most ``max_seconds`` (Whisper's 30 s window),
each cut at the quietest 40 ms of the window's last ``search_seconds`` so that words are not
split, and on video-frame boundaries so that crops and audio stay aligned. Silent video is cut
into fixed pieces of ``vsr_seconds``. Used by the batch engine and by ``AVWhisper.transcribe``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from avsr.core.media import SAMPLE_RATE, SAMPLES_PER_FRAME, VSR_SEGMENT_SECONDS

CUT_FRAME = SAMPLES_PER_FRAME  # 40 ms: cuts fall on video frame boundaries, so crops and audio stay aligned


@dataclass(frozen=True)
class SegmentConfig:
    max_seconds: float = 30.0  # Whisper's window
    search_seconds: float = 5.0  # a cut goes to the quietest moment of the window's last seconds
    vsr_seconds: float = float(VSR_SEGMENT_SECONDS)


def quietest_cut(audio: np.ndarray, lo: int, hi: int) -> int:
    """A multiple of CUT_FRAME in [lo, hi]: the start of the lowest-energy 40 ms frame there
    (the latest one on ties), i.e. where a cut is least likely to split a word."""
    lo, hi = -(-max(0, lo) // CUT_FRAME) * CUT_FRAME, min(len(audio), hi) // CUT_FRAME * CUT_FRAME
    n = (hi - lo) // CUT_FRAME
    if n < 1:
        return hi
    frames = audio[lo : lo + n * CUT_FRAME].reshape(n, CUT_FRAME).astype(np.float64)
    energy = (frames**2).mean(1)
    k = n - 1 - int(np.argmin(energy[::-1]))
    return lo + k * CUT_FRAME if k > 0 or lo > 0 else CUT_FRAME


def split_audio(blocks: Iterable[np.ndarray], cfg: SegmentConfig = SegmentConfig()) -> Iterator[tuple[int, np.ndarray]]:
    """Stream of audio blocks -> (start sample, samples) segments of at most ``max_seconds``,
    cut at quiet moments. Holds at most one window plus one block in memory."""
    limit = int(cfg.max_seconds * SAMPLE_RATE)
    search = int(cfg.search_seconds * SAMPLE_RATE)
    buf = np.zeros(0, np.float32)
    offset = 0
    for b in blocks:
        buf = np.concatenate([buf, b]) if len(buf) else b
        while len(buf) > limit:
            cut = quietest_cut(buf, limit - search, limit)
            yield offset, buf[:cut]
            offset += cut
            buf = buf[cut:]
    if len(buf):
        yield offset, buf
