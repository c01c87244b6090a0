"""Worker processes for the job runner (:mod:`avsr.core.jobs`): :func:`in_workers` runs a job
function over the jobs in spawned processes and streams the results back, in order per job.

- A worker that dies (a native crash, the OOM killer) fails only the job it was on; a fresh
  worker takes the jobs it had not begun.
- A per-input time limit: a worker that spends longer than ``timeout`` seconds on one job
  (the time its results wait for the main process not counted) is killed, and that job fails
  with the reason; a file that never finishes decoding (a stalled network mount, a pipe that
  never ends) cannot hold up the batch.
- Workers die with the main process (``PR_SET_PDEATHSIG``), so a killed run leaves none behind.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from avsr.core.jobs import Job, call_libc, release_memory

T = TypeVar("T")
STOP_SECONDS = 5.0  # how long a worker may take to stop at the end before it is killed
PR_SET_PDEATHSIG = 1  # prctl option: the signal a process gets when its parent exits
M_ARENA_MAX = -8  # mallopt option: the number of glibc malloc arenas


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
    call_libc("mallopt", M_ARENA_MAX, 2)
    if parent is not None:
        call_libc("prctl", PR_SET_PDEATHSIG, int(signal.SIGKILL))
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
        self.timed_out = False
        self.clock = _JobClock()
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
                msg = self.conn.recv()
                if msg[0] == "item":
                    self.clock.start()
                with self.clock.paused():  # the worker may wait on us now: not its input's time
                    out.put((wid, *msg))
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


class _JobClock:
    """Seconds a worker has spent on its current job, not counting the time its results waited
    for the main process to take them (a slow consumer is not the input's fault)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._begun: float | None = None
        self._waited = 0.0
        self._since: float | None = None  # waiting since

    def start(self) -> None:
        with self._lock:
            self._begun, self._waited, self._since = time.monotonic(), 0.0, None

    @contextlib.contextmanager
    def paused(self):
        with self._lock:
            self._since = time.monotonic()
        try:
            yield
        finally:
            with self._lock:
                self._waited += time.monotonic() - self._since
                self._since = None

    def seconds(self) -> float:
        with self._lock:
            if self._begun is None:
                return 0.0
            now = time.monotonic()
            waiting = now - self._since if self._since is not None else 0.0
            return now - self._begun - self._waited - waiting


def in_workers(
    jobs: list[tuple[int, Job]],
    work: Callable[[int, Job], Iterator[T]],
    workers: int,
    prefetch: int,
    died: Callable[[int, Job, int, str], T],
    timeout: float | None = None,
) -> Iterator[T]:
    """The results of ``work(i, job)`` for ``jobs`` (``(i, Job)`` pairs), computed in ``workers``
    spawned processes (every ``workers``-th job each), in the order they are ready; one job's
    results in order. ``work`` must be picklable (a module-level function or a dataclass instance).
    At most ``prefetch`` results per worker wait to be taken. When a worker dies in the middle of
    a job, ``died(i, job, results so far, why)`` stands for the rest of that job, and a fresh
    worker takes the jobs the dead one had not begun. ``timeout``: seconds a worker may spend on
    one job (time its results wait to be taken not counted); a worker over it is killed and the
    job fails with why = "stopped after the N s time limit per input"."""
    workers = max(1, min(workers, len(jobs)))
    if not jobs:
        return
    out: queue.Queue = queue.Queue(maxsize=max(1, prefetch) * workers)
    pool = {w: _Worker(w, jobs[w::workers], work, out) for w in range(workers)}
    live = set(pool)
    try:
        while live:
            try:
                wid, kind, payload = out.get(timeout=None if timeout is None else min(1.0, timeout / 4))
            except queue.Empty:
                _stop_overtime(pool, live, timeout)
                continue
            _stop_overtime(pool, live, timeout)
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
                    why = f"stopped after the {timeout:g} s time limit per input" if w.timed_out else None
                    yield died(i, job, w.results, why or _signal_name(w.proc.exitcode))
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


def _stop_overtime(pool: dict[int, _Worker], live: set[int], timeout: float | None) -> None:
    """Kill the live workers whose current job is over ``timeout`` seconds."""
    if timeout is None:
        return
    for wid in live:
        w = pool[wid]
        if w.current is not None and not w.timed_out and w.clock.seconds() > timeout:
            w.timed_out = True
            w.proc.kill()
