"""The text normalizer of G2P and training text: words as they are pronounced, digits spelled out
(``1984`` -> ``one thousand nine hundred eighty four``). WER does not use it: references and
hypotheses are scored with Whisper's English normaliser (:mod:`avsr.text.wer_text`)."""

from __future__ import annotations

import re
import unicodedata

_ONES = (
    "zero one two three four five six seven eight nine ten "
    "eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = [(10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred")]
_SYMBOLS = {"&": " and ", "%": " percent ", "+": " plus ", "@": " at ", "$": " dollars "}


def number_to_words(n: int) -> str:
    """Cardinal English words for a non-negative integer (``1984`` -> ``one thousand nine
    hundred eighty four``)."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    for value, name in _SCALES:
        if n >= value:
            head, rest = divmod(n, value)
            return f"{number_to_words(head)} {name}" + ("" if rest == 0 else " " + number_to_words(rest))
    raise AssertionError("unreachable")


def normalize(text: str) -> str:
    """Lower case, digits spelled out, symbols named, punctuation removed except apostrophes
    inside words (``IT'S`` -> ``it's``), whitespace collapsed. Idempotent."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    for sym, word in _SYMBOLS.items():
        text = text.replace(sym, word)
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)  # 1,000 -> 1000
    text = re.sub(
        r"\d+",
        lambda m: (
            f" {number_to_words(int(m.group()))} "
            if len(m.group()) <= 12
            else " ".join(_ONES[int(d)] for d in m.group())
        ),
        text,
    )
    text = re.sub(r"[^a-z' ]+", " ", text)
    words = [w.strip("'") for w in text.split()]
    return " ".join(w for w in words if w)
