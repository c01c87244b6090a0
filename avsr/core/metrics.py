"""Scoring primitives over token sequences (phonemes or words): edit counts, corpus error rates,
the word alignment, and bootstrap intervals. Text normalisation and per-utterance scoring sit
above (:mod:`avsr.evaluation.scoring`); these functions take tokens as they are."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CORRECT, SUBSTITUTION, DELETION, INSERTION = "correct", "substitution", "deletion", "insertion"
BOOTSTRAP_RESAMPLES = 1000  # Bisani & Ney (2004) use 1000 or more
CONFIDENCE = 0.95


def error_rate(refs: list[list[str]], hyps: list[list[str]]) -> float:
    """Corpus error rate: total edits / total reference tokens (PER for phonemes, WER for
    words). Token lists, so multi-character phoneme symbols stay whole."""
    import jiwer

    pairs = [(r, h) for r, h in zip(refs, hyps) if r]
    if not pairs:
        return 0.0
    out = jiwer.process_words([" ".join(r) for r, _ in pairs], [" ".join(h) for _, h in pairs])
    return float(out.wer)


def edits(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance between two token lists."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i]
        for j, h in enumerate(hyp, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h)))
        prev = cur
    return prev[-1]


@dataclass(frozen=True)
class AlignedWord:
    """One step of the alignment: ``op`` is correct / substitution / deletion (``hyp`` None) /
    insertion (``ref`` None)."""

    op: str
    ref: str | None
    hyp: str | None


def align(ref: Sequence[str], hyp: Sequence[str]) -> list[AlignedWord]:
    """Minimum-edit alignment of two word lists (Levenshtein, unit costs). Among the alignments
    with the fewest edits it takes one with the most correct words (``the mat`` / ``mat today``
    aligns ``mat`` with ``mat``: a deletion and an insertion, not two substitutions), then
    prefers substitutions. The number of non-correct steps equals
    :func:`edits`."""
    n, m = len(ref), len(hyp)
    k = n + m + 1  # one edit costs more than any number of matches gains
    d = np.zeros((n + 1, m + 1), np.int64)
    d[:, 0], d[0, :] = k * np.arange(n + 1), k * np.arange(m + 1)

    def diag(i: int, j: int) -> int:
        return d[i - 1, j - 1] + (-1 if ref[i - 1] == hyp[j - 1] else k)

    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i, j] = min(diag(i, j), d[i - 1, j] + k, d[i, j - 1] + k)
    out: list[AlignedWord] = []
    i, j = n, m
    while i or j:
        if i and j and d[i, j] == diag(i, j):
            out.append(AlignedWord(CORRECT if ref[i - 1] == hyp[j - 1] else SUBSTITUTION, ref[i - 1], hyp[j - 1]))
            i, j = i - 1, j - 1
        elif i and d[i, j] == d[i - 1, j] + k:
            out.append(AlignedWord(DELETION, ref[i - 1], None))
            i -= 1
        else:
            out.append(AlignedWord(INSERTION, None, hyp[j - 1]))
            j -= 1
    return out[::-1]


def bootstrap_interval(
    edit_counts: Sequence[int],
    ref_words: Sequence[int],
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> tuple[float, float]:
    """Percentile bootstrap interval of corpus WER (Bisani & Ney, ICASSP 2004): utterances are
    drawn with replacement ``resamples`` times (seeded, so the interval repeats) and corpus WER
    recomputed on each draw. Returns (low, high) as fractions; (nan, nan) without utterances
    or with ``resamples`` = 0."""
    e, w = np.asarray(edit_counts, np.float64), np.asarray(ref_words, np.float64)
    if len(e) == 0 or resamples <= 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    rates = np.empty(resamples)
    for s in range(0, resamples, 100):  # 100 draws at a time: memory stays small on a 1k-utterance test set
        idx = rng.integers(0, len(e), (min(100, resamples - s), len(e)))
        rates[s : s + len(idx)] = e[idx].sum(1) / np.maximum(w[idx].sum(1), 1.0)
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(rates, [tail, 100 - tail])
    return float(lo), float(hi)


def paired_bootstrap(
    edits_a: Sequence[int],
    edits_b: Sequence[int],
    ref_words: Sequence[int],
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> dict[str, float]:
    """Paired bootstrap of the corpus-WER difference of two systems on the same utterances
    (Bisani & Ney, ICASSP 2004): both are scored on each draw. Returns ``diff`` (WER of a minus
    WER of b, fractions), its interval ``low``/``high``, and ``p_a_better``, the share of draws in
    which a has the lower WER."""
    a, b, w = (np.asarray(x, np.float64) for x in (edits_a, edits_b, ref_words))
    if not len(a) == len(b) == len(w):
        raise ValueError(f"paired bootstrap needs the same utterances: {len(a)}, {len(b)}, {len(w)}")
    nan = float("nan")
    if len(w) == 0 or resamples <= 0:
        return {"diff": nan, "low": nan, "high": nan, "p_a_better": nan}
    rng = np.random.default_rng(seed)
    diffs = np.empty(resamples)
    for s in range(0, resamples, 100):
        idx = rng.integers(0, len(w), (min(100, resamples - s), len(w)))
        words = np.maximum(w[idx].sum(1), 1.0)
        diffs[s : s + len(idx)] = (a[idx].sum(1) - b[idx].sum(1)) / words
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(diffs, [tail, 100 - tail])
    return {
        "diff": float((a.sum() - b.sum()) / max(w.sum(), 1.0)),
        "low": float(lo),
        "high": float(hi),
        "p_a_better": float((diffs < 0).mean()),
    }
