"""JSONL manifests: the hand-off between data prep, training, evaluation and batch inference.

One JSON object per line. Lines carry text and phonemes, never tokenizer ids. ``.jsonl.gz``
is read and written transparently. Appends are line-buffered and flushed, and a reader skips a
final line cut short by an interrupted writer (:func:`repair` truncates it), so an interrupted
run never leaves a manifest that a later run misreads.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from avsr.core.errors import InputError, OutputError
from avsr.core.files import OpenFile, atomic_path


def _open(path: Path, mode: str):
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, mode.replace("t", "") + "b"), encoding="utf-8")
    return open(path, mode, encoding="utf-8")


def read_jsonl(path: str | os.PathLike, on_bad: Callable[[int, str], None] | None = None) -> Iterator[dict[str, Any]]:
    """Records of a manifest; a malformed line raises, except a cut-short last line (skipped).
    With ``on_bad(line number, why)``, malformed lines are reported there and skipped instead."""
    path = Path(path)
    if not path.exists():
        return
    with _open(path, "rt") as f:
        lines = f.read().split("\n")
    last = len(lines) - 1
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            if i == last:  # interrupted write: no newline after it
                return
            why = f"not a JSON line ({e})"
        else:
            if isinstance(rec, dict):
                yield rec
                continue
            why = f"expected a JSON object, got {type(rec).__name__}"
        if on_bad is None:
            raise InputError(f"{path}:{i + 1}: {why}")
        on_bad(i + 1, why)


def repair(path: str | os.PathLike) -> None:
    """Cut a trailing partial line (left by a killed writer) off a plain-text manifest."""
    path = Path(path)
    if not path.exists() or path.suffix == ".gz":
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)


def write_jsonl(path: str | os.PathLike, records: Iterable[dict[str, Any]]) -> int:
    """Write a whole manifest atomically; returns the number of lines."""
    n = 0
    path = Path(path)
    with atomic_path(path) as tmp:
        with _open(tmp, "wt") as f:  # the temporary name keeps the .gz suffix
            for r in records:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
                n += 1
    return n


class JsonlAppender(OpenFile):
    """Append records one line at a time, flushed and fsynced, so a kill loses at most the line
    being written (which :func:`repair` removes)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            repair(self.path)
            self._f = open(self.path, "ab", buffering=0)
        except OSError as e:
            raise OutputError(f"{self.path}: cannot be written ({e.strerror or e})") from e

    def write(self, record: dict[str, Any]) -> None:
        """Append one line, fsynced; a failed write (disk full, file too large) is cut back off
        the file and raises OutputError: the file never ends in half a line."""
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        fd = self._f.fileno()
        start = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[self._f.write(view) :]
            os.fsync(fd)
        except OSError as e:
            try:
                os.ftruncate(fd, start)
            except OSError:
                pass  # then repair() cuts the partial line on the next start
            raise OutputError(
                f"{self.path}: writing failed ({e.strerror or e}); the lines before are kept and nothing is "
                "half-written: free space (or fix the folder) and re-run the same command to continue"
            ) from e
