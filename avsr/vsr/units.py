"""The output units of the published Auto-AVSR models: a SentencePiece unigram inventory of 5,047
pieces (``unigram5000_units.txt``, one ``PIECE ID`` per line, ids 1..5047), to which the model
adds ``<blank>`` (id 0) and ``<eos>`` (the last id, also used as ``<sos>``).

Users bring the units file with the checkpoint; :func:`load_units` checks it is that file
(length and sha256), because a different inventory would turn every output into other words
without any error.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from avsr.core.errors import CheckpointError
from avsr.core.files import sha256

UNITS_SHA256 = "29001d967ad290e28f6f1d7d47e07e314354bf67d3b1f494e936fa2fed9a9122"
N_UNITS = 5047
WORD_START = "\u2581"  # SentencePiece's word-boundary mark


def load_units(path: str | os.PathLike, expect_sha256: str | None = UNITS_SHA256) -> list[str]:
    """The token list ``["<blank>", *units, "<eos>"]`` (5,049 entries for the published file).
    CheckpointError when the file is missing, malformed, of the wrong length or hash."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such units file (unigram5000_units.txt from mpc001/auto_avsr spm/unigram/)")
    try:
        with open(path, encoding="utf-8") as f:
            lines = [ln.rstrip("\n") for ln in f if ln.strip()]
    except UnicodeDecodeError as e:
        raise CheckpointError(f"{path}: not a text units file ({e})") from e
    units = []
    for n, ln in enumerate(lines, 1):
        parts = ln.rsplit(" ", 1)
        if len(parts) != 2 or not parts[1].isdigit() or int(parts[1]) != n:
            raise CheckpointError(f"{path}: line {n} is {ln[:40]!r}; expected 'PIECE {n}' (a SentencePiece units file)")
        units.append(parts[0])
    if expect_sha256 is not None:
        if len(units) != N_UNITS:
            raise CheckpointError(
                f"{path}: {len(units)} units; the published Auto-AVSR models use {N_UNITS} (unigram5000_units.txt)"
            )
        got = sha256(path)
        if got != expect_sha256:
            raise CheckpointError(
                f"{path}: sha256 {got[:16]}... is not that of the published unigram5000_units.txt "
                f"({expect_sha256[:16]}...); the models only read correctly with that file"
            )
    return ["<blank>", *units, "<eos>"]


def units_to_text(tokens: Sequence[int], token_list: Sequence[str]) -> str:
    """Unit ids -> text: pieces joined, word marks -> spaces, <eos>/<blank> dropped, upper case
    (as the published models' references are written)."""
    pieces = [token_list[t] for t in tokens if 0 < t < len(token_list) - 1]
    return "".join(pieces).replace(WORD_START, " ").strip().upper()
