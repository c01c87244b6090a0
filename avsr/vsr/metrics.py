"""Error rates over token sequences (phonemes or words), via jiwer's edit distance."""
from __future__ import annotations


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
