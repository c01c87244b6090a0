"""Real English text that installs offline: Debian's ``fortunes`` package (a few MB of quotes,
jokes and literature in category files under /usr/share/games/fortunes). Each fortune is a
document; the train / held-out split is by document, never by sentence, so no held-out
sentence has a neighbour from the same text in training."""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from avsr.core.errors import InputError
from avsr.text import normalize

FORTUNES_DIR = "/usr/share/games/fortunes"
OFFENSIVE = ("off",)  # fortunes-off categories are not used


class CorpusError(InputError, RuntimeError):
    pass


def fortune_documents(folder: str | os.PathLike = FORTUNES_DIR) -> Iterator[tuple[str, str]]:
    """(doc_id, text) for every fortune: ``category:index``; files are ``%``-separated."""
    folder = Path(folder)
    files = (
        sorted(f for f in folder.iterdir() if f.is_file() and not f.suffix and f.name not in OFFENSIVE)
        if folder.is_dir()
        else []
    )
    if not files:
        raise CorpusError(f"{folder}: no fortune files; install them with: apt-get install fortunes")
    for f in files:
        text = f.read_text(encoding="latin-1")
        for i, doc in enumerate(text.split("\n%\n")):
            yield f"{f.name}:{i}", doc


def sentences(doc: str, min_words: int = 4, max_words: int = 20) -> list[str]:
    """Normalised sentences of a fortune: attribution lines (``-- Name``), quoted dialogue
    markers and sentences with digits-only or too few/many words are left out."""
    lines = [
        ln for ln in doc.splitlines() if not re.match(r"^\s*(--|- )", ln) and not re.match(r"^\s*[A-Z][a-z]+:\s", ln)
    ]
    text = " ".join(lines)
    out = []
    for s in re.split(r"(?<=[.!?])\s+", text):
        if re.search(r"[<>{}\[\]|\\/=_#*^~]", s):  # code, ASCII art, markup
            continue
        n = normalize(s)
        if min_words <= len(n.split()) <= max_words:
            out.append(n)
    return out


def build_corpus(folder: str | os.PathLike = FORTUNES_DIR, heldout: float = 0.05) -> dict[str, list[dict[str, Any]]]:
    """{"train": [...], "heldout": [...]} of {id, doc, text}; a document goes to held-out when
    crc32 of its id falls in the bottom ``heldout`` fraction. Duplicate sentences are kept once
    (in the split of their first document)."""
    seen: set[str] = set()
    split: dict[str, list[dict[str, Any]]] = {"train": [], "heldout": []}
    for doc_id, doc in fortune_documents(folder):
        part = "heldout" if zlib.crc32(doc_id.encode()) % 10000 < heldout * 10000 else "train"
        for j, s in enumerate(sentences(doc)):
            if s in seen:
                continue
            seen.add(s)
            split[part].append({"id": f"{doc_id}:{j}", "doc": doc_id, "text": s})
    return split
