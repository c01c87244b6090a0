"""The one resumable JSONL job runner's parts, shared by ``avsr roi`` and ``avsr transcribe``.

- inputs -> :class:`Job` s (:func:`collect_inputs`: files, folders, globs, list files, JSONL
  manifests), with one error record per input that cannot be a job;
- :class:`RunLock`: one run at a time per output;
- :func:`finished_ids`: the ids an output already holds, so a re-run skips them;
- :class:`RunSummary`: done / skipped / failed and the exit code;
- worker processes for the jobs: :mod:`avsr.core.pool`.

Writers append one fsynced JSON line per finished job (:class:`avsr.core.jsonl.JsonlAppender`),
so a killed run loses at most the jobs in flight.
"""

from __future__ import annotations

import fcntl
import functools
import glob
import os
import stat as statmod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from avsr.core.errors import EXIT_FAILED_INPUTS, EXIT_OK, UsageError
from avsr.core.files import OpenFile
from avsr.core.jsonl import read_jsonl
from avsr.core.manifest import MEDIA_KEYS, resolve_path
from avsr.core.media import VIDEO_EXTENSIONS, MediaInfo

T = TypeVar("T")
LIST_EXTENSIONS = (".txt", ".lst", ".list", ".scp")


@dataclass(frozen=True)
class Job:
    """One input of a run: its id (unique in the run), its media file, and fields that travel
    with it into the output line (e.g. a manifest's reference text); ``media``: what one look at
    the file told (:class:`~avsr.core.media.MediaInfo`), once it has been probed, so that no
    later step looks again."""

    id: str
    source: str
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    media: MediaInfo | None = field(default=None, hash=False, compare=False)


POSITION = "_position"  # an input error's place among the jobs (collect_inputs); never written


def without_position(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if k != POSITION}


def error_record(cid: str, source: str, error: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The output line of an input that failed: ``id``, ``source``, ``error`` (+ e.g. ``traceback``)."""
    return {"id": cid, "source": source, "error": error, **(extra or {})}


@dataclass
class RunSummary:
    """What a run did. Only rank 0 of a multi-process run reports it."""

    done: int = 0
    skipped: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0
    rank: int = 0

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED_INPUTS if self.failed else EXIT_OK


def not_a_file(path: Path) -> str:
    """Why ``path`` is not a readable regular file, in words (for an error record)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return "a broken symbolic link" if path.is_symlink() else "no such file"
    except OSError as e:  # a symbolic link loop, a name too long, no permission on a folder above
        return f"cannot be opened ({e.strerror or e})"
    kinds = {statmod.S_ISDIR: "a folder", statmod.S_ISFIFO: "a named pipe", statmod.S_ISSOCK: "a socket"}
    kinds |= {statmod.S_ISCHR: "a device", statmod.S_ISBLK: "a device"}
    kind = next((v for test, v in kinds.items() if test(st.st_mode)), None)
    return f"{kind}, not a media file" if kind else "not readable"


def collect_inputs(
    inputs: list[str], extensions: tuple[str, ...] = VIDEO_EXTENSIONS
) -> tuple[list[Job], list[dict[str, Any]]]:
    """Files, folders (searched recursively for files with ``extensions``), list files (one
    path a line, relative to the list's folder; ``#`` comments), JSONL manifests (``id`` and a
    path under one of MEDIA_KEYS, relative to the manifest's folder; the line's other fields,
    e.g. ``text``, travel with the job) or glob patterns -> jobs. Clip ids are paths relative
    to the folder given (``speaker/utt``) or the file's stem. Missing paths and duplicate ids
    come back as error records, each with its place in the input order (``_position``: the
    number of jobs before it; :func:`without_position` drops it from a record to write)."""
    jobs: list[Job] = []
    rejected: list[tuple[int, dict[str, Any]]] = []  # (jobs before it, error record): input order

    def reject(rec: dict[str, Any]) -> None:
        rejected.append((len(jobs), rec))

    def add(path: Path, cid: str, extra: dict[str, Any] | None = None) -> None:
        jobs.append(Job(cid, str(path), extra or {}))

    for item in inputs:
        p = Path(item)
        if p.is_dir():
            named = sorted(  # media names, whatever they are (folders named x.mp4 aside)
                f
                for f in p.rglob("*")
                if f.suffix.lower() in extensions and not f.name.startswith(".") and not f.is_dir()
            )
            if not named:
                reject(error_record(p.name, str(p), f"{p}: folder holds no media file ({', '.join(extensions)})"))
            for f in named:
                cid = f.relative_to(p).with_suffix("").as_posix()
                if f.is_file():
                    add(f, cid)
                else:  # a named pipe, a socket, a symbolic link loop or a broken link: said, not skipped
                    reject(error_record(cid, str(f), f"{f}: {not_a_file(f)}"))
        elif p.is_file() and p.suffix.lower() in LIST_EXTENSIONS:
            for line in p.read_text(encoding="utf-8").splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    f = Path(resolve_path(p.parent, line))
                    if f.is_file():
                        add(f, f.stem)
                    else:
                        reject(error_record(f.stem, str(f), f"{f}: {not_a_file(f)} (listed in {p})"))
        elif p.is_file() and p.name.endswith((".jsonl", ".jsonl.gz")):

            def bad_line(n: int, why: str, p: Path = p) -> None:
                reject(error_record(f"{p.name}:{n}", str(p), f"{p}:{n}: {why}"))

            for n, rec in enumerate(read_jsonl(p, on_bad=bad_line), 1):
                key = next((k for k in MEDIA_KEYS if isinstance(rec.get(k), str)), None)
                if key is None:
                    reject(
                        error_record(
                            str(rec.get("id", f"{p.name}:{n}")),
                            str(p),
                            f"{p}:{n}: no media path ({'/'.join(MEDIA_KEYS)})",
                        )
                    )
                    continue
                f = Path(resolve_path(p.parent, rec[key]))
                cid = str(rec.get("id") or f.stem)
                extra = {k: v for k, v in rec.items() if k not in ("id", key)}
                if "text" in extra:  # a reference transcript: kept beside the hypothesis, not over it
                    extra["ref"] = extra.pop("text")
                if f.is_file():
                    add(f, cid, extra)
                else:
                    reject(error_record(cid, str(f), f"{f}: {not_a_file(f)} (line {n} of {p})"))
        elif p.is_file():
            add(p, p.stem)
        elif any(c in item for c in "*?["):
            matched = sorted(glob.glob(item, recursive=True))
            if not matched:
                reject(error_record(item, item, f"{item}: pattern matches no file"))
            for f in matched:
                add(Path(f), Path(f).stem)
        elif os.path.lexists(item):
            reject(error_record(p.stem or item, item, f"{item}: {not_a_file(p)}"))
        else:
            reject(error_record(p.stem or item, item, f"{item}: no such file or folder"))
    seen: dict[str, str] = {}
    unique, before = [], []  # before[k]: unique jobs among jobs[:k]
    for k, j in enumerate(jobs):
        before.append(len(unique))
        if j.id in seen:
            why = f"duplicate clip id {j.id!r}: also {seen[j.id]}; give their folder instead"
            rejected.append((k, error_record(j.id, j.source, why)))
        else:
            seen[j.id] = j.source
            unique.append(j)
    before.append(len(unique))
    rejected.sort(key=lambda e: e[0])  # stable: errors at one place keep their order
    return unique, [r | {POSITION: before[k]} for k, r in rejected]


class RunLock(OpenFile):
    """An exclusive lock on ``path`` (a hidden lock file): a second run on the same output stops
    at once with a UsageError instead of interleaving lines. Released on close or process exit."""

    def __init__(self, path: str | os.PathLike, what: str):
        self._f = open(path, "w")
        try:
            fcntl.flock(self._f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._f.close()
            raise UsageError(f"{what} is in use by another avsr run") from None


def finished_ids(
    *paths: str | os.PathLike, keep: Callable[[dict[str, Any]], bool] = lambda r: True
) -> dict[str, dict[str, Any]]:
    """id -> record of every line in ``paths`` that ``keep`` accepts (later files win)."""
    out: dict[str, dict[str, Any]] = {}
    for p in paths:
        for r in read_jsonl(p):
            if keep(r):
                out[r["id"]] = r
    return out


@functools.cache
def _glibc():
    import ctypes

    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (macOS, musl): nothing to tune
        return None


def call_libc(fn: str, *args: int) -> None:
    """Call a glibc function if there is one."""
    f = getattr(_glibc(), fn, None)
    if f is not None:
        f(*args)


def release_memory() -> None:
    """Give freed heap memory back to the system (glibc keeps it otherwise): called after each
    segment in a worker and after each batch in the main process, so that neither grows with
    the input's length."""
    call_libc("malloc_trim", 0)
