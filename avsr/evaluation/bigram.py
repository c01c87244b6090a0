"""A word-bigram language model over the lexicon's candidates: the standard non-neural baseline
for phoneme-to-text, between dictionary lookup (no context) and the LLM.

Each phoneme word offers the spellings of :meth:`DictionaryDecoder.alternatives` (the nearest
pronunciations and their homophones, each with its phoneme edit distance ``d``); a Viterbi search
over the sentence picks the spellings that maximise::

    sum_i log P_bigram(w_i | w_{i-1}) - weight * d_i        (with <s> and </s>)

a noisy-channel decoder whose LM is an interpolated Kneser-Ney bigram (absolute discount 0.75)
counted on the training sentences. Word boundaries are kept as given, like the lookup's.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

from avsr.text import words_of

BIGRAM = "word bigram + lexicon"  # the system's name in rows and tables
BOS, EOS = "<s>", "</s>"


class BigramLM:
    """Interpolated Kneser-Ney bigram over lower-case words; an unseen word gets the mass of one
    half of a continuation count."""

    def __init__(self, sentences: Iterable[list[str]], discount: float = 0.75):
        self.discount = discount
        self.bigrams: Counter = Counter()
        for s in sentences:
            toks = [BOS, *s, EOS]
            self.bigrams.update(zip(toks, toks[1:]))
        self.context: Counter = Counter()  # count of each left word
        self.followers: Counter = Counter()  # distinct words after each left word
        self.continuation: Counter = Counter()  # distinct left words before each word
        for (a, b), c in self.bigrams.items():
            self.context[a] += c
            self.followers[a] += 1
            self.continuation[b] += 1
        self._types = len(self.bigrams)
        self._vocab = len(self.continuation) + 1

    def p_continuation(self, word: str) -> float:
        return (self.continuation.get(word, 0) + 0.5) / (self._types + 0.5 * self._vocab)

    def logp(self, word: str, prev: str) -> float:
        """log P(word | prev)."""
        n = self.context.get(prev, 0)
        pc = self.p_continuation(word)
        if not n:
            return math.log(pc)
        seen = max(self.bigrams.get((prev, word), 0) - self.discount, 0.0) / n
        return math.log(seen + self.discount * self.followers[prev] / n * pc)

    @classmethod
    def from_records(cls, records: Iterable[dict]) -> BigramLM:
        """Counted on the (normalised) ``text`` of corpus records."""
        return cls(r["text"].split() for r in records)


class BigramDecoder:
    """Phoneme sequence with word boundaries -> text, by the Viterbi search above."""

    def __init__(self, lexicon, lm: BigramLM, weight: float = 8.0, words: int = 6):
        self.lexicon, self.lm, self.weight, self.words = lexicon, lm, weight, words

    def __call__(self, phonemes: list[str]) -> str:
        columns = [self.lexicon.alternatives(w, limit=self.words) for w in words_of(phonemes) if w]
        if not columns:
            return ""
        # best[w] = (score, back-pointer path) of the best sequence ending in spelling w
        best = {BOS: (0.0, ())}
        for column in columns:
            step = {}
            for w, d in column:
                cost = -self.weight * d
                prev, (score, path) = max(best.items(), key=lambda kv: kv[1][0] + self.lm.logp(w, kv[0]))
                step[w] = (score + self.lm.logp(w, prev) + cost, (*path, w))
            best = step
        _, (_, path) = max(best.items(), key=lambda kv: kv[1][0] + self.lm.logp(EOS, kv[0]))
        return " ".join(path)

    def batch(self, phoneme_lists: list[list[str]]) -> list[str]:
        return [self(p) for p in phoneme_lists]


def tune_weight(decoder: BigramDecoder, inputs: list[list[str]], refs: list[str], grid=(1.0, 2.0, 4.0, 8.0, 16.0)):
    """The channel weight of ``grid`` with the lowest corpus WER on (noisy phonemes, reference)
    pairs (ties: the smaller), set on ``decoder``; returns it and the WER of each weight."""
    from avsr.core.metrics import error_rate
    from avsr.evaluation.scoring import words

    ref_words = [words(r) for r in refs]
    wers = {}
    for w in grid:
        decoder.weight = w
        wers[w] = error_rate(ref_words, [words(h) for h in decoder.batch(inputs)])
    decoder.weight = min(grid, key=lambda w: (round(wers[w], 9), w))
    return decoder.weight, wers
