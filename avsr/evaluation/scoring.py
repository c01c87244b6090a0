"""Scoring of text: one normaliser, per-utterance error counts and corpus WER (the primitives,
alignment and bootstrap intervals, are in :mod:`avsr.core.metrics`).

Every reference and hypothesis goes through Whisper's English text normaliser
(:func:`avsr.text.normalize_for_wer`: lower case, numbers, ordinals, years and currencies as
digits, contractions expanded, American spellings, punctuation dropped) before it is scored, so
``March 3rd, 1928`` and ``march third nineteen twenty eight`` are the same words. Results files
name it (:func:`normaliser_name`, under :data:`NORMALISER`). Corpus WER is total edits / total
reference words (:func:`avsr.core.metrics.error_rate`), not a mean of per-utterance rates.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from avsr.core.metrics import DELETION, INSERTION, SUBSTITUTION, align, edits, error_rate
from avsr.text import normalize_for_wer, wer_normalizer

NORMALISER = "normaliser"  # the key under which results files (run.json, results.md, results.csv) name it


def normaliser_name() -> str:
    """What scored the words: ``Whisper English (transformers ... EnglishTextNormalizer; spelling
    mapping: <package, version, file, sha256>)``."""
    return wer_normalizer().name


def words(text: str) -> list[str]:
    """``text`` as WER counts it: the words of its normalised form."""
    return normalize_for_wer(text).split()


def score(ref: str, hyp: str) -> dict[str, Any]:
    """One utterance: normalised ``ref`` and ``hyp``, ``edits``, ``ref_words`` and the counts of
    ``substitutions``, ``deletions``, ``insertions`` (their sum is ``edits``)."""
    r, h = normalize_for_wer(ref), normalize_for_wer(hyp)
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
