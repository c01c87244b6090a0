"""Scoring of text: one normalizer, per-utterance error counts and corpus WER (the primitives,
alignment and bootstrap intervals, are in :mod:`avsr.core.metrics`).

Every reference and hypothesis goes through :func:`avsr.text.normalize` (lower case, digits
spelled out, punctuation dropped) before it is scored, so ``IT'S 2 O'CLOCK`` and ``it's two
o'clock`` are the same words. Corpus WER is total edits / total reference words
(:func:`avsr.core.metrics.error_rate`), not a mean of per-utterance rates.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from avsr.core.metrics import DELETION, INSERTION, SUBSTITUTION, align, edits, error_rate
from avsr.text import normalize


def score(ref: str, hyp: str) -> dict[str, Any]:
    """One utterance: normalized ``ref`` and ``hyp``, ``edits``, ``ref_words`` and the counts of
    ``substitutions``, ``deletions``, ``insertions`` (their sum is ``edits``)."""
    r, h = normalize(ref), normalize(hyp)
    rw, hw = r.split(), h.split()
    ops = [a.op for a in align(rw, hw)]
    out = {
        "ref": r,
        "hyp": h,
        "edits": edits(rw, hw),
        "ref_words": len(rw),
        "substitutions": ops.count(SUBSTITUTION),
        "deletions": ops.count(DELETION),
        "insertions": ops.count(INSERTION),
    }
    assert out["edits"] == out["substitutions"] + out["deletions"] + out["insertions"]
    return out


def corpus_wer(utterances: Iterable[dict[str, Any]]) -> float:
    """Corpus WER of scored utterances (normalized ``ref`` / ``hyp``): total edits / total
    reference words, computed by :func:`avsr.core.metrics.error_rate`."""
    us = list(utterances)
    return error_rate([u["ref"].split() for u in us], [u["hyp"].split() for u in us])
