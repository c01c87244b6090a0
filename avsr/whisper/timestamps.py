"""Word timestamps from Whisper's cross-attention, one implementation for both engines.

Whisper's alignment heads (a few decoder cross-attention heads that follow the audio) give, for
each text token, a distribution over the encoder's frames (20 ms each). Dynamic time warping
through -attention gives a monotonic path of (token, frame) pairs; a token starts at the frame
where the path first reaches it, and a word (its tokens: a token that starts with a space starts
a new word) spans from its first token's start to the next word's start. This is the method of
openai-whisper's ``timing.py``, which faster-whisper follows.

- CTranslate2 computes the path itself (``Whisper.align``: its alignment heads, median filter
  and DTW) and gives the per-token probabilities;
- PyTorch: :func:`attention_path` does the same from the teacher-forced cross-attentions.

Both then call :func:`words_from_path`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

SECONDS_PER_FRAME = 0.02  # one encoder frame
MEDIAN_FILTER = 7
_LEADING = "\"'“¿([{-"  # joined to the word after them
_TRAILING = "\"'.。,，!！?？:：”)]}、"  # joined to the word before them


def dtw(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cheapest monotonic path through ``cost`` (N tokens x M frames), from (0, 0) to
    (N-1, M-1), moving down, right or diagonally: (token indices, frame indices)."""
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    step = np.zeros((n + 1, m + 1), dtype=np.int8)  # 0 diagonal, 1 from above, 2 from the left
    for i in range(1, n + 1):
        row, prev, c = acc[i], acc[i - 1], cost[i - 1]
        for j in range(1, m + 1):
            best, how = prev[j - 1], 0
            if prev[j] < best:
                best, how = prev[j], 1
            if row[j - 1] < best:
                best, how = row[j - 1], 2
            row[j] = c[j - 1] + best
            step[i, j] = how
    i, j, path = n, m, []
    while i > 0 and j > 0:
        path.append((i - 1, j - 1))
        how = step[i, j]
        i, j = (i - 1, j - 1) if how == 0 else ((i - 1, j) if how == 1 else (i, j - 1))
    path.reverse()
    t, f = np.array(path, dtype=np.int64).T
    return t, f


def median_filter(x: np.ndarray, width: int = MEDIAN_FILTER) -> np.ndarray:
    """Median over the last axis in a window of ``width`` (reflect padding), as Whisper's."""
    if width <= 1 or x.shape[-1] <= width // 2:
        return x
    pad = [(0, 0)] * (x.ndim - 1) + [(width // 2, width // 2)]
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(x, pad, mode="reflect"), width, axis=-1)
    return np.median(windows, axis=-1)


def attention_path(weights: np.ndarray, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(heads, tokens, encoder frames) cross-attention of the alignment heads -> the DTW path
    over the first ``frames`` encoder frames (the audio, not the padding): each head normalised
    per frame over the tokens, median-filtered over time, averaged."""
    w = np.asarray(weights, dtype=np.float64)[:, :, : max(1, frames)]
    mean, std = w.mean(axis=-2, keepdims=True), w.std(axis=-2, keepdims=True)
    w = median_filter((w - mean) / np.maximum(std, 1e-10))
    return dtw(-w.mean(axis=0))


def _only(text: str, chars: str) -> bool:
    return bool(text) and all(c in chars for c in text)


def split_words(tokens: Sequence[int], text_of: Callable[[list[int]], str], eot: int) -> list[tuple[str, list[int]]]:
    """Text tokens -> (word, its tokens), then ("", [eot]): a token whose text starts with a space
    starts a word, others continue it; leading punctuation ("(", a quote) joins the word after it
    and trailing punctuation (".", ",", a quote) the word before it."""
    words: list[tuple[str, list[int]]] = []
    for t in tokens:
        s = text_of([t])
        new = not words or (
            s.startswith(" ") and not _only(s.strip(), _TRAILING) and not _only(words[-1][0].strip(), _LEADING)
        )
        if new:
            words.append((s, [t]))
        else:
            words[-1] = (words[-1][0] + s, words[-1][1] + [t])
    return words + [("", [eot])]


def words_from_path(
    words: list[tuple[str, list[int]]],
    token_index: np.ndarray,
    frame_index: np.ndarray,
    token_probs: Sequence[float],
    offset: float = 0.0,
    end: float | None = None,
) -> list[dict[str, Any]]:
    """Words with start / end (seconds, + ``offset``) and probability (mean of its tokens') from
    a DTW path over the words' tokens followed by the end token; times capped at ``end``."""
    if len(words) <= 1:
        return []
    jumps = np.concatenate([[True], np.diff(token_index) > 0])
    starts = frame_index[jumps] * SECONDS_PER_FRAME  # one per token, in order
    bounds = np.concatenate([[0], np.cumsum([len(ts) for _, ts in words[:-1]])])
    probs = list(token_probs)
    out = []
    for k, (w, _) in enumerate(words[:-1]):
        a, b = bounds[k], bounds[k + 1]
        s = float(starts[min(a, len(starts) - 1)])
        e = float(starts[min(b, len(starts) - 1)])
        p = probs[a:b]
        out.append(
            {
                "word": w,
                "start": round(offset + s, 3),
                "end": round(offset + max(e, s), 3),
                "probability": round(float(np.mean(p)), 4) if p else None,
            }
        )
    if end is not None:
        for d in out:
            d["start"], d["end"] = min(d["start"], end), min(d["end"], end)
    return out
