"""Word timestamps from Whisper's cross-attention, one implementation for both engines.

Whisper's alignment heads (a few decoder cross-attention heads that follow the audio) give, for
each text token, a distribution over the encoder's frames (20 ms each). Dynamic time warping
through -attention gives a monotonic path of (token, frame) pairs; a token starts at the frame
where the path first reaches it, and a word (its tokens: a token that starts with a space starts
a new word) spans from its first token's start to the next word's start. This is the method of
openai-whisper's ``timing.py``, which faster-whisper follows.

The path starts at the window's first frame and ends at its last, so silence always belongs to a
word: the first word would start at 0.00 however late speech starts, and a word next to a pause
would swallow it. Word edges are therefore moved off non-speech found by voice activity
(:mod:`avsr.whisper.vad`), and, where that cannot tell, words too long at a likely pause are
shortened as faster-whisper does (:func:`words_from_path`).

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
MIN_GAP_FRAMES = 10  # non-speech at a word's edge (0.2 s and more) that fit_to_speech cuts off
MAX_MEDIAN_WORD = 0.7  # seconds: shorten_long_words' median is at most this (as faster-whisper's)
_SENTENCE_END = (".", "。", "!", "！", "?", "？")
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
    speech: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Words with start / end (seconds, + ``offset``) and probability (mean of its tokens') from
    a DTW path over the words' tokens followed by the end token; times capped at ``end``.
    ``speech``: whether each encoder frame is speech (:func:`avsr.whisper.vad.speech_frames`): word
    edges are moved off the silence the path gave them (:func:`fit_to_speech`), then words still
    too long where a pause is likely are shortened (:func:`shorten_long_words`)."""
    if len(words) <= 1:
        return []
    jumps = np.concatenate([[True], np.diff(token_index) > 0])
    starts = frame_index[jumps]  # one per token, in order (encoder frames)
    bounds = np.concatenate([[0], np.cumsum([len(ts) for _, ts in words[:-1]])])
    first = starts[np.minimum(bounds[:-1], len(starts) - 1)]
    span = np.stack([first, np.maximum(starts[np.minimum(bounds[1:], len(starts) - 1)], first)], axis=1)
    texts = [w for w, _ in words[:-1]]
    if speech is not None:
        span = fit_to_speech(span, speech)
    span = shorten_long_words(span, texts, ends=speech is None)
    probs = list(token_probs)
    out = []
    for k, w in enumerate(texts):
        p = probs[bounds[k] : bounds[k + 1]]
        s, e = (float(x) * SECONDS_PER_FRAME for x in span[k])
        out.append(
            {
                "word": w,
                "start": round(offset + s, 3),
                "end": round(offset + e, 3),
                "probability": round(float(np.mean(p)), 4) if p else None,
            }
        )
    if end is not None:
        for d in out:
            d["start"], d["end"] = min(d["start"], end), min(d["end"], end)
    return out


def fit_to_speech(span: np.ndarray, speech: np.ndarray, min_gap: int = MIN_GAP_FRAMES) -> np.ndarray:
    """(words, 2) start / end frames -> the same with each word's leading and trailing non-speech
    cut off when it lasts at least ``min_gap`` frames (shorter: a stop closure, a soft onset). A
    word with no speech frame at all is left as it is (the detector missed it, not the aligner)."""
    out = span.copy()
    for k, (s, e) in enumerate(span):
        hit = np.flatnonzero(speech[s:e])
        if len(hit):
            a, b = s + hit[0], s + hit[-1] + 1
            out[k] = (a if a - s >= min_gap else s, b if e - b >= min_gap else e)
    return out


def shorten_long_words(span: np.ndarray, texts: list[str], ends: bool = True) -> np.ndarray:
    """Words longer than twice the median word (the median at most 0.7 s) where the path puts
    pauses: the window's first word and a word after a sentence end start that much before their
    end; with ``ends``, a sentence's last word ends that much after its start. faster-whisper's
    rule. After :func:`fit_to_speech` it still bounds starts where voice activity could not tell
    (noise taken for speech before the word); ends are left to voice activity, which finds them
    (the rule cuts real ones: "meters." of goforward_16k.wav at 1.80 s, its sound lasts to 2.24 s)."""
    dur = span[:, 1] - span[:, 0]
    dur = dur[dur > 0]
    if not len(dur):
        return span
    longest = 2 * min(float(np.median(dur)), MAX_MEDIAN_WORD / SECONDS_PER_FRAME)
    out = span.copy()
    for k, (s, e) in enumerate(span):
        if e - s <= longest:
            continue
        if k == 0 or texts[k - 1].rstrip().endswith(_SENTENCE_END):
            out[k, 0] = max(s, e - int(round(longest)))
        elif ends and texts[k].rstrip().endswith(_SENTENCE_END):
            out[k, 1] = min(e, s + int(round(longest)))
    return out
