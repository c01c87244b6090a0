"""Text processing shared by every stage: normalizer, G2P, phoneme vocabulary, viseme groups.

>>> from avsr.text import normalize, g2p
>>> normalize("It's 2 O'CLOCK!")
"it's two o'clock"
"""

from avsr.text.g2p import G2PError, g2p, g2p_many, word_phonemes
from avsr.text.normalize import normalize
from avsr.text.phonemes import BLANK, BOUNDARY, PHONEMES, VISEME_OF, VISEMES, VOCAB, PhonemeVocab, words_of

__all__ = [
    "normalize",
    "g2p",
    "g2p_many",
    "word_phonemes",
    "G2PError",
    "PHONEMES",
    "BOUNDARY",
    "BLANK",
    "VISEMES",
    "VISEME_OF",
    "VOCAB",
    "PhonemeVocab",
    "words_of",
]
