"""The one resumable JSONL job runner's parts, shared by ``avsr roi`` and ``avsr transcribe``.

- inputs -> :class:`Job` s (:func:`collect_inputs`: files, folders, globs, list files, JSONL
  manifests), with one error record per input that cannot be a job;
- :class:`RunLock`: one run at a time per output;
- :func:`finished_ids`: the ids an output already holds, so a re-run skips them;
- :class:`RunSummary`: done / skipped / failed and the exit code;
- :func:`in_workers`: a job function run over the jobs in spawned worker processes, results
  streamed back in order per job. A worker that dies (a native crash, the OOM killer) fails only
  the job it was on; a fresh worker takes the jobs it had not begun. Workers die with the main
  process (``PR_SET_PDEATHSIG``), so a killed run leaves none behind.

Writers append one fsynced JSON line per finished job (:class:`avsr.core.jsonl.JsonlAppender`),
so a killed run loses at most the jobs in flight.
"""

from __future__ import annotations

import fcntl
import functools
import glob
import os
import queue
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from avsr.core.errors import EXIT_FAILED_INPUTS, EXIT_OK, UsageError
from avsr.core.files import OpenFile
from avsr.core.jsonl import read_jsonl
from avsr.core.manifest import MEDIA_KEYS, resolve_path
from avsr.core.media import VIDEO_EXTENSIONS

T = TypeVar("T")
LIST_EXTENSIONS = (".txt", ".lst", ".list", ".scp")
PR_SET_PDEATHSIG = 1  # prctl option: the signal a process gets when its parent exits
M_ARENA_MAX = -8  # mallopt option: the number of glibc malloc arenas
STOP_SECONDS = 5.0  # how long a worker may take to stop at the end before it is killed


@dataclass(frozen=True)
class Job:
    """One input of a run: its id (unique in the run), its media file, and fields that travel
    with it into the output line (e.g. a manifest's reference text)."""

    id: str
    source: str
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


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


def collect_inputs(
    inputs: list[str], extensions: tuple[str, ...] = VIDEO_EXTENSIONS
) -> tuple[list[Job], list[dict[str, Any]]]:
    """Files, folders (searched recursively for files with ``extensions``), list files (one
    path a line, relative to the list's folder; ``#`` comments), JSONL manifests (``id`` and a
    path under one of MEDIA_KEYS, relative to the manifest's folder; the line's other fields,
    e.g. ``text``, travel with the job) or glob patterns -> jobs. Clip ids are paths relative
    to the folder given (``speaker/utt``) or the file's stem. Missing paths and duplicate ids
    come back as error records."""
    jobs: list[Job] = []
    errors: list[dict[str, Any]] = []

    def add(path: Path, cid: str, extra: dict[str, Any] | None = None) -> None:
        jobs.append(Job(cid, str(path), extra or {}))

    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(
                f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in extensions and not f.name.startswith(".")
            )
            if not found:
                errors.append(
                    error_record(p.name, str(p), f"{p}: folder holds no media file ({', '.join(extensions)})")
                )
            for f in found:
                add(f, f.relative_to(p).with_suffix("").as_posix())
        elif p.is_file() and p.suffix.lower() in LIST_EXTENSIONS:
            for line in p.read_text(encoding="utf-8").splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    f = Path(resolve_path(p.parent, line))
                    if f.is_file():
                        add(f, f.stem)
                    else:
                        errors.append(error_record(f.stem, str(f), f"{f}: no such file (listed in {p})"))
        elif p.is_file() and p.name.endswith((".jsonl", ".jsonl.gz")):
            for n, rec in enumerate(read_jsonl(p), 1):
                key = next((k for k in MEDIA_KEYS if isinstance(rec.get(k), str)), None)
                if key is None:
                    errors.append(
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
                    errors.append(error_record(cid, str(f), f"{f}: no such file (line {n} of {p})"))
        elif p.is_file():
            add(p, p.stem)
        elif any(c in item for c in "*?["):
            matched = sorted(glob.glob(item, recursive=True))
            if not matched:
                errors.append(error_record(item, item, f"{item}: pattern matches no file"))
            for f in matched:
                add(Path(f), Path(f).stem)
        else:
            errors.append(error_record(p.stem or item, item, f"{item}: no such file or folder"))
    seen: dict[str, str] = {}
    unique = []
    for j in jobs:
        if j.id in seen:
            errors.append(
                error_record(
                    j.id, j.source, f"duplicate clip id {j.id!r}: also {seen[j.id]}; give their folder instead"
                )
            )
        else:
            seen[j.id] = j.source
            unique.append(j)
    return unique, errors


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


def _libc(fn: str, *args: int) -> None:
    """Call a glibc function if there is one."""
    f = getattr(_glibc(), fn, None)
    if f is not None:
        f(*args)


def release_memory() -> None:
    """Give freed heap memory back to the system (glibc keeps it otherwise): called after each
    segment in a worker and after each batch in the main process, so that neither grows with
    the input's length."""
    _libc("malloc_trim", 0)


def init_worker(parent: int | None = None) -> None:
    """A worker computes on one core: the models' threads keep the others (on a small machine,
    oversubscribed OpenCV threads spin and slow everything down). Its threads share 2 malloc
    arenas instead of taking a new one each. With ``parent``, it dies with that process."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass
    _libc("mallopt", M_ARENA_MAX, 2)
    if parent is not None:
        _libc("prctl", PR_SET_PDEATHSIG, int(signal.SIGKILL))
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)


def _serve(jobs: list[tuple[int, Job]], work: Callable[[int, Job], Iterator[Any]], conn, parent: int) -> None:
    """Worker process: ("item", i) when job ``i`` starts, ("out", x) for each of its results,
    ("end", i) when it is finished, ("done", None) at the end."""
    init_worker(parent)
    try:
        for i, job in jobs:
            conn.send(("item", i))
            for x in work(i, job):
                conn.send(("out", x))
                del x
                release_memory()
            conn.send(("end", i))
        conn.send(("done", None))
    except (BrokenPipeError, KeyboardInterrupt):  # the main process stopped reading: it is ending
        pass
    finally:
        conn.close()


def _signal_name(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class _Worker:
    def __init__(self, wid: int, jobs: list[tuple[int, Job]], work: Callable, out: queue.Queue):
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.jobs, self.started = jobs, 0  # jobs begun so far
        self.current: tuple[int, Job] | None = None  # (item, job) in progress
        self.results = 0  # results of the current job so far
        self.finished = False
        recv, send = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(
            target=_serve, args=(jobs, work, send, os.getpid()), daemon=True, name=f"avsr-worker-{wid}"
        )
        self.proc.start()
        send.close()  # only the worker holds the write end: its exit closes the pipe
        self.conn = recv
        self.reader = threading.Thread(target=self._read, args=(wid, out), daemon=True)
        self.reader.start()

    def _read(self, wid: int, out: queue.Queue) -> None:
        try:
            while True:
                out.put((wid, *self.conn.recv()))
        except (EOFError, OSError):  # the worker exited (or died mid-message)
            out.put((wid, "eof", None))

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(STOP_SECONDS)
            if self.proc.is_alive():
                self.proc.kill()
        self.proc.join()
        self.conn.close()


def in_workers(
    jobs: list[tuple[int, Job]],
    work: Callable[[int, Job], Iterator[T]],
    workers: int,
    prefetch: int,
    died: Callable[[int, Job, int, str], T],
) -> Iterator[T]:
    """The results of ``work(i, job)`` for ``jobs`` (``(i, Job)`` pairs), computed in ``workers``
    spawned processes (every ``workers``-th job each), in the order they are ready; one job's
    results in order. ``work`` must be picklable (a module-level function or a dataclass instance).
    At most ``prefetch`` results per worker wait to be taken. When a worker dies in the middle of
    a job, ``died(i, job, results so far, why)`` stands for the rest of that job, and a fresh
    worker takes the jobs the dead one had not begun."""
    workers = max(1, min(workers, len(jobs)))
    if not jobs:
        return
    out: queue.Queue = queue.Queue(maxsize=max(1, prefetch) * workers)
    pool = {w: _Worker(w, jobs[w::workers], work, out) for w in range(workers)}
    live = set(pool)
    try:
        while live:
            wid, kind, payload = out.get()
            w = pool[wid]
            if kind == "item":
                w.current, w.results = w.jobs[w.started], 0
                w.started += 1
            elif kind == "out":
                w.results += 1
                yield payload
            elif kind == "end":
                w.current = None
            elif kind == "done":
                w.finished = True
            else:  # eof: the worker has exited
                w.proc.join()
                live.discard(wid)
                if w.finished:
                    continue
                if w.current is not None:
                    i, job = w.current
                    yield died(i, job, w.results, _signal_name(w.proc.exitcode))
                rest = w.jobs[w.started :]
                if rest:  # a fresh worker takes the jobs the dead one had not begun
                    pool[wid] = _Worker(wid, rest, work, out)
                    live.add(wid)
    finally:
        for w in pool.values():
            w.stop()
        while any(w.reader.is_alive() for w in pool.values()):  # readers blocked on a full queue: let them end
            try:
                out.get(timeout=0.1)
            except queue.Empty:
                pass
