"""The word-bigram baseline for phoneme-to-text in evaluation runs: its name in tables and the
tuning of its channel weight. The decoder itself is :mod:`avsr.p2t.bigram` (the shipped
phoneme-to-text folder uses it too: to place word boundaries, and as a rescoring candidate)."""

from __future__ import annotations

from avsr.p2t.bigram import BIGRAM_NAME, BOS, EOS, BigramDecoder, BigramLM

__all__ = ["BIGRAM", "BOS", "EOS", "BigramDecoder", "BigramLM", "tune_weight"]

BIGRAM = BIGRAM_NAME  # the system's name in rows and tables


def tune_weight(
    decoder: BigramDecoder,
    inputs: list[list[str]],
    refs: list[str],
    grid=(1.0, 2.0, 4.0, 8.0, 16.0),
    boundaries: bool = True,
):
    """The channel weight of ``grid`` with the lowest corpus WER on (noisy phonemes, reference)
    pairs (ties: the smaller), set on ``decoder``; returns it and the WER of each weight."""
    from avsr.core.metrics import error_rate
    from avsr.evaluation.scoring import words

    ref_words = [words(r) for r in refs]
    wers = {}
    for w in grid:
        decoder.weight = w
        wers[w] = error_rate(ref_words, [words(h) for h in decoder.batch(inputs, boundaries)])
    decoder.weight = min(grid, key=lambda w: (round(wers[w], 9), w))
    return decoder.weight, wers
