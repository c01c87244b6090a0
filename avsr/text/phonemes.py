"""The phoneme inventory, the CTC vocabulary built on it, and viseme groups.

39 ARPAbet phonemes without stress (the CMU dictionary's set), plus a word-boundary symbol.
CTC class 0 is the blank.
"""

from __future__ import annotations

from dataclasses import dataclass

PHONEMES = (
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH"
).split()
BOUNDARY = "|"  # between words
BLANK = "<b>"  # CTC blank, class 0

# Phonemes that look alike on the lips, grouped by place of articulation (consonants) and lip
# shape and opening (vowels). Substitutions inside a group are the typical lip-reading errors.
VISEMES: dict[str, tuple[str, ...]] = {
    "bilabial": ("P", "B", "M"),
    "labiodental": ("F", "V"),
    "dental": ("TH", "DH"),
    "alveolar": ("T", "D", "N", "L", "S", "Z"),
    "postalveolar": ("SH", "ZH", "CH", "JH"),
    "velar-glottal": ("K", "G", "NG", "HH"),
    "rounded-approximant": ("R", "W"),
    "palatal": ("Y",),
    "open-vowel": ("AA", "AE", "AH", "AY", "AW"),
    "mid-vowel": ("EH", "EY", "ER"),
    "close-front-vowel": ("IH", "IY"),
    "rounded-vowel": ("AO", "OW", "OY", "UH", "UW"),
}
VISEME_OF = {p: name for name, group in VISEMES.items() for p in group}
assert sorted(VISEME_OF) == sorted(PHONEMES), "every phoneme in exactly one viseme group"


@dataclass(frozen=True)
class PhonemeVocab:
    """CTC classes: 0 = blank, then the 39 phonemes, then the word boundary (41 in all)."""

    symbols: tuple[str, ...] = (BLANK, *PHONEMES, BOUNDARY)

    def __len__(self) -> int:
        return len(self.symbols)

    @property
    def blank(self) -> int:
        return 0

    def encode(self, phonemes: list[str]) -> list[int]:
        index = {s: i for i, s in enumerate(self.symbols)}
        try:
            return [index[p] for p in phonemes]
        except KeyError as e:
            raise ValueError(f"unknown phoneme {e.args[0]!r}; known: {' '.join(self.symbols[1:])}") from None

    def decode(self, ids: list[int]) -> list[str]:
        return [self.symbols[i] for i in ids if i != self.blank]


VOCAB = PhonemeVocab()


def words_of(phonemes: list[str]) -> list[list[str]]:
    """Split a phoneme sequence at boundary symbols into per-word lists (empty words dropped)."""
    out: list[list[str]] = [[]]
    for p in phonemes:
        if p == BOUNDARY:
            out.append([])
        else:
            out[-1].append(p)
    return [w for w in out if w]
