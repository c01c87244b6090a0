"""A word-bigram language model over the lexicon's candidates: the standard non-neural decoder
for phoneme-to-text, between dictionary lookup (no context) and the LLM.

With word boundaries, each phoneme word offers the spellings of
:meth:`DictionaryDecoder.alternatives` (the nearest pronunciations and their homophones, each
with its phoneme edit distance ``d``); a Viterbi search over the sentence picks the spellings
that maximise::

    sum_i log P_bigram(w_i | w_{i-1}) - weight * d_i        (with <s> and </s>)

a noisy-channel decoder whose LM is an interpolated Kneser-Ney bigram (absolute discount 0.75)
counted on the training sentences.

Without word boundaries (the VALLR authors' model emits none) the same search also places
them: every span of the phoneme string may be a word whose pronunciation it matches exactly or
within one edit (spans of three or more phonemes, words seen in the corpus), and a phoneme may be
skipped at the cost of one edit (an inserted phoneme), so the search always reaches the end.
The chosen spans give the boundaries (:meth:`BigramDecoder.segment`), which the lookup and the
LLM then read as usual. A string in which no span matches a word closely enough reads as the
lookup's nearest word.
"""

from __future__ import annotations

import gzip
import heapq
import math
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from avsr.p2t.lexicon import DictionaryDecoder, phoneme_key
from avsr.text import BOUNDARY, words_of

BOS, EOS = "<s>", "</s>"
BIGRAM_NAME = "word bigram + lexicon"  # the decoder's name in run records and tables
BIGRAM_COUNTS = "bigram_counts.tsv.gz"  # in a phoneme-to-text folder: the LM the decoder and the segmenter use


class BigramLM:
    """Interpolated Kneser-Ney bigram over lower-case words; an unseen word gets the mass of one
    half of a continuation count. Built from sentences (word lists) or from saved counts."""

    def __init__(self, sentences: Iterable[list[str]] = (), discount: float = 0.75, counts: Counter | None = None):
        self.discount = discount
        self.bigrams: Counter = Counter(counts or {})
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

    def save(self, path: str | os.PathLike) -> None:
        """The counts as gzipped ``prev<TAB>word<TAB>count`` lines (what :meth:`load` reads)."""
        from avsr.core.files import atomic_path

        text = "".join(f"{a}\t{b}\t{c}\n" for (a, b), c in sorted(self.bigrams.items()))
        with atomic_path(path) as tmp:  # no name and no time in the header: the same bytes every time
            Path(tmp).write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))

    @classmethod
    def load(cls, path: str | os.PathLike) -> BigramLM:
        counts: Counter = Counter()
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                parts = line.rstrip("\n").split("\t")
                if len(parts) != 3 or not parts[2].isdigit():
                    raise ValueError(f"{path}:{n}: not a bigram count line (prev<TAB>word<TAB>count)")
                counts[parts[0], parts[1]] = int(parts[2])
        return cls(counts=counts)


class BigramDecoder:
    """Phoneme sequence -> text by the Viterbi search above; ``boundaries=False`` places the word
    boundaries too. ``beam``: word histories kept per position in that search."""

    def __init__(
        self,
        lexicon: DictionaryDecoder,
        lm: BigramLM,
        weight: float = 8.0,
        words: int = 6,
        beam: int = 16,
        longest: int = 16,
    ):
        self.lexicon, self.lm, self.weight, self.words = lexicon, lm, weight, words
        self.beam, self.longest = beam, longest
        self._index: tuple[dict, dict] | None = None
        self._spans: dict[str, list[tuple[str, int]]] = {}

    def __call__(self, phonemes: list[str], boundaries: bool = True) -> str:
        if not boundaries:
            bare = [p for p in phonemes if p != BOUNDARY]
            found = " ".join(w for w, _, _ in self._search(bare))
            # no span matched a word closely enough: the lookup's nearest word, rather than nothing
            return found or (self.lexicon(bare) if bare else "")
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

    def batch(self, phoneme_lists: list[list[str]], boundaries: bool = True) -> list[str]:
        return [self(p, boundaries) for p in phoneme_lists]

    def segment(self, phonemes: list[str]) -> list[str]:
        """The phonemes with word boundaries where the search placed them (boundaries already in
        the input are dropped first; a skipped phoneme stays with the word before it)."""
        ph = [p for p in phonemes if p != BOUNDARY]
        starts = {i for _, i, _ in self._search(ph)} - {0}
        out: list[str] = []
        for i, p in enumerate(ph):
            if i in starts:
                out.append(BOUNDARY)
            out.append(p)
        return out

    # -- the search without boundaries ------------------------------------------------------

    def _build_index(self) -> tuple[dict, dict]:
        """Exact: every pronunciation -> spellings. Near: each single-phoneme deletion of the
        pronunciations (of three or more phonemes) of corpus words -> those pronunciations."""
        exact = self.lexicon.pronunciations()
        near: dict[str, list[str]] = {}
        for k, ws in exact.items():
            if len(k) < 3 or not any(self.lexicon.count(w) for w in ws):
                continue
            for i in range(len(k)):
                near.setdefault(k[:i] + k[i + 1 :], []).append(k)
        return exact, near

    def _span_words(self, q: str) -> list[tuple[str, int]]:
        """(spelling, edits) for the words this span of phonemes may be: its exact
        pronunciations, and pronunciations one edit away when it has three or more phonemes."""
        if q in self._spans:
            return self._spans[q]
        from rapidfuzz.distance import Levenshtein

        if self._index is None:
            self._index = self._build_index()
        exact, near = self._index
        found: dict[str, int] = {k: 0 for k in ([q] if q in exact else [])}
        if len(q) >= 3:
            dels = {q[:i] + q[i + 1 :] for i in range(len(q))}
            keys = set(near.get(q, ())) | {d for d in dels if d in exact and len(d) >= 3}
            for d in dels:
                keys.update(near.get(d, ()))
            for k in keys:
                if k not in found and Levenshtein.distance(q, k, score_cutoff=1) <= 1:
                    found[k] = 1
        spellings = sorted(
            ((w, d) for k, d in found.items() for w in exact[k][:3]), key=lambda x: (x[1], -self.lexicon.count(x[0]))
        )[: self.words]
        if len(self._spans) > 200_000:
            self._spans.clear()
        self._spans[q] = spellings
        return spellings

    def _search(self, phonemes: list[str]) -> list[tuple[str, int, int]]:
        """The best (spelling, start, end) sequence over a phoneme string without boundaries."""
        s = phoneme_key(phonemes)
        n = len(s)
        if not n:
            return []
        # states[j]: last word -> (score, back) with back = (i, previous last word, word or None)
        states: list[dict[str, tuple[float, tuple | None]]] = [{} for _ in range(n + 1)]
        states[0][BOS] = (0.0, None)

        def relax(j: int, key: str, score: float, back: tuple) -> None:
            old = states[j].get(key)
            if old is None or score > old[0]:
                states[j][key] = (score, back)

        for i in range(n):
            if len(states[i]) > self.beam:
                states[i] = dict(heapq.nlargest(self.beam, states[i].items(), key=lambda kv: kv[1][0]))
            here = list(states[i].items())
            for prev, (score, _) in here:  # phoneme i inserted by the recogniser: skipped, one edit
                relax(i + 1, prev, score - self.weight, (i, prev, None))
            for j in range(i + 1, min(n, i + self.longest) + 1):
                for w, d in self._span_words(s[i:j]):
                    cost = self.weight * d
                    for prev, (score, _) in here:
                        relax(j, w, score + self.lm.logp(w, prev) - cost, (i, prev, w))
        last, (_, back) = max(states[n].items(), key=lambda kv: kv[1][0] + self.lm.logp(EOS, kv[0]))
        out, j = [], n
        while back is not None:
            i, prev, w = back
            if w is not None:
                out.append((w, i, j))
            j, back = i, states[i][prev][1]
        return out[::-1]


def load_bigram(
    folder: str | os.PathLike, lexicon: DictionaryDecoder | None = None, weight: float = 8.0
) -> BigramDecoder | None:
    """The folder's bigram decoder (its :data:`BIGRAM_COUNTS`; ``lexicon`` default: the CMU
    dictionary without corpus counts), or None when it has none."""
    path = Path(folder) / BIGRAM_COUNTS
    if not path.is_file():
        return None
    return BigramDecoder(lexicon if lexicon is not None else DictionaryDecoder(), BigramLM.load(path), weight)
