"""Files written so that an interrupted run never leaves one that a later run would trust, and
their checksums."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

_UMASK = os.umask(0)


os.umask(_UMASK)


def output_folder(path: str | os.PathLike) -> Path:
    """``path`` as a folder to write into, made if need be; OutputError (with the reason) when it
    cannot be: a file in the way, a read-only file system, no permission."""
    from avsr.core.errors import OutputError

    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{path}: cannot be made a folder to write into ({e.strerror or e})") from e
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: not writable")
    return path


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the same folder; rename it over ``path`` only on success, so an
    interrupted write never leaves a file that a later run would trust."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


class OpenFile:
    """An object around one open file (``self._f``): ``close()`` closes it, and ``with`` closes it
    at the end of the block."""

    _f: IO

    def close(self) -> None:
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in ``chunk``-byte blocks."""
    return digests(path, ("sha256",), chunk)["sha256"]


def digests(path: str | os.PathLike, algorithms: tuple[str, ...], chunk: int = 1 << 20) -> dict[str, str]:
    """Hex digests of a file by each of ``algorithms`` (hashlib names), in one read."""
    hs = {a: hashlib.new(a) for a in algorithms}
    with open(path, "rb") as f:
        while block := f.read(chunk):
            for h in hs.values():
                h.update(block)
    return {a: h.hexdigest() for a, h in hs.items()}


def build_dir(target: str | os.PathLike, build: Callable[[Path], None], complete: Callable[[Path], bool]) -> Path:
    """A folder made once and trusted only when whole: used as it is when ``complete(target)``;
    otherwise (absent, partial, stale) ``build(tmp)`` writes a temporary sibling, which replaces
    ``target`` by a rename, so an interrupted build leaves nothing a later run would use. When
    another process finished the same folder first, its copy is kept."""
    target = Path(target)
    if complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        build(tmp)
        if target.exists() and not complete(target):
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(tmp, target)
        except OSError:
            if not complete(target):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
