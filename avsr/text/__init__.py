"""Text processing shared by every stage: normalizers, G2P, phoneme vocabulary, viseme groups.

Two normalizers: :func:`normalize` prepares text for G2P and training (digits spelled out);
:func:`normalize_for_wer` (Whisper's English normaliser) is what every WER scores.

>>> from avsr.text import normalize, normalize_for_wer, g2p
>>> normalize("It's 2 O'CLOCK!")
"it's two o'clock"
>>> normalize_for_wer("March 3rd, 1928")
'march 3rd 1928'
"""

from avsr.text.g2p import G2PError, g2p, g2p_many, word_phonemes
from avsr.text.normalize import normalize
from avsr.text.phonemes import BLANK, BOUNDARY, PHONEMES, VISEME_OF, VISEMES, VOCAB, PhonemeVocab, words_of
from avsr.text.wer_text import NormalizerError, WerNormalizer, normalize_for_wer, wer_normalizer

__all__ = [
    "normalize",
    "normalize_for_wer",
    "wer_normalizer",
    "WerNormalizer",
    "NormalizerError",
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
