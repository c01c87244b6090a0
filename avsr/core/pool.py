"""Worker processes for the job runner (:mod:`avsr.core.jobs`): :func:`in_workers` runs a job
function over the jobs in spawned processes and streams the results back, in order per job.

- A worker that dies (a native crash, the OOM killer) fails only the job it was on; a fresh
  worker takes the jobs it had not begun.
- A per-input time limit: a worker that spends longer than ``timeout`` seconds on one job
  (the time its results wait for the main process not counted) is killed, and that job fails
  with the reason; a file that never finishes decoding (a stalled network mount, a pipe that
  never ends) cannot hold up the batch. A job's clock starts when the worker begins it: the
  worker's start-up (the interpreter, its imports, the job function's ``warmup``, e.g. loading
  mediapipe's graphs) is not the first job's time. Start-up has its own, generous limit
  (:func:`start_limit`); a worker that does not start within it, or exits before it is ready,
  fails its jobs with why = "the worker did not start ...".
- Workers die with the main process (``PR_SET_PDEATHSIG``), so a killed run leaves none behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from avsr.core.jobs import Job, call_libc, release_memory

log = logging.getLogger(__name__)
T = TypeVar("T")
STOP_SECONDS = 5.0  # how long a worker may take to stop at the end before it is killed
START_SECONDS, START_FACTOR = 60.0, 10.0  # start-up limit: max(START_SECONDS, START_FACTOR x the per-job limit)
NOT_STARTED = "the worker did not start"  # how ``died``'s why begins for the jobs of a worker that never started
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


def start_limit(timeout: float | None) -> float | None:
    """Seconds a worker may take to start (be ready for its first job) when jobs have ``timeout``
    seconds each: generous, since a loaded machine starts processes slowly; None: no limit."""
    return None if timeout is None else max(START_SECONDS, START_FACTOR * timeout)


def _serve(
    jobs: list[tuple[int, Job]],
    work: Callable[[int, Job], Iterator[Any]],
    conn,
    parent: int,
    warmup: Callable[[], Any] | None = None,
) -> None:
    """Worker process: ("ready", None) once started (imports done, ``warmup()`` run), then
    ("item", i) when job ``i`` starts, ("out", x) for each of its results, ("end", i) when it is
    finished, ("done", None) at the end."""
    init_worker(parent)
    try:
        if warmup is not None:
            try:
                warmup()
            except Exception:  # only a head start: a job that needs what failed meets (and reports) the failure
                pass
        conn.send(("ready", None))
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
    def __init__(
        self, wid: int, jobs: list[tuple[int, Job]], work: Callable, out: queue.Queue, warmup: Callable | None = None
    ):
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.jobs, self.started = jobs, 0  # jobs begun so far
        self.current: tuple[int, Job] | None = None  # (item, job) in progress
        self.results = 0  # results of the current job so far
        self.finished = False
        self.timed_out = False
        self.start_timed_out = False  # killed for not starting in time
        self.ready = threading.Event()  # set when the worker says it is ready (by the reader, as it arrives)
        self.clock = _JobClock()
        recv, send = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(
            target=_serve, args=(jobs, work, send, os.getpid(), warmup), daemon=True, name=f"avsr-worker-{wid}"
        )
        self.spawned = time.monotonic()
        self.proc.start()
        send.close()  # only the worker holds the write end: its exit closes the pipe
        self.conn = recv
        self.reader = threading.Thread(target=self._read, args=(wid, out), daemon=True)
        self.reader.start()

    def _read(self, wid: int, out: queue.Queue) -> None:
        try:
            while True:
                msg = self.conn.recv()
                if msg[0] == "ready":  # noted here, not in the main loop: a busy consumer must not delay it
                    self.ready.set()
                    log.info("%s started in %.2f s (not counted in any input's time)", self.proc.name, self.age())
                    continue
                if msg[0] == "item":
                    self.clock.start()
                elif msg[0] == "end":
                    log.debug("%s: input %d took %.2f s", self.proc.name, msg[1], self.clock.seconds())
                with self.clock.paused():  # the worker may wait on us now: not its input's time
                    out.put((wid, *msg))
        except (EOFError, OSError):  # the worker exited (or died mid-message)
            out.put((wid, "eof", None))

    def age(self) -> float:
        return time.monotonic() - self.spawned

    def starting_for(self) -> float | None:
        """Seconds since the worker was spawned while it is not ready yet; None once it is."""
        return None if self.ready.is_set() else self.age()

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
    warmup: Callable[[], Any] | None = None,
    start_timeout: float | None = None,
) -> Iterator[T]:
    """The results of ``work(i, job)`` for ``jobs`` (``(i, Job)`` pairs), computed in ``workers``
    spawned processes (every ``workers``-th job each), in the order they are ready; one job's
    results in order. ``work`` must be picklable (a module-level function or a dataclass instance).
    At most ``prefetch`` results per worker wait to be taken. When a worker dies in the middle of
    a job, ``died(i, job, results so far, why)`` stands for the rest of that job, and a fresh
    worker takes the jobs the dead one had not begun. ``timeout``: seconds a worker may spend on
    one job, from when it begins the job (time its results wait to be taken not counted); a worker
    over it is killed and the job fails with why = "stopped after the N s time limit per input".
    ``warmup`` (picklable, optional): run in each worker before its first job, to build what
    ``work`` would otherwise build lazily on its first call (imports, models); like the worker's
    other start-up, its time is no job's. ``start_timeout``: seconds a worker may take to start
    (default :func:`start_limit` of ``timeout``); a worker that does not start in time is killed,
    and each of its jobs fails with why = "the worker did not start within N s" (or "the worker
    did not start (exit code N)" when it exits first); none is retried."""
    workers = max(1, min(workers, len(jobs)))
    if not jobs:
        return
    if start_timeout is None:
        start_timeout = start_limit(timeout)
    limits = [t for t in (timeout, start_timeout) if t is not None]
    tick = min(1.0, *(t / 4 for t in limits)) if limits else None
    out: queue.Queue = queue.Queue(maxsize=max(1, prefetch) * workers)
    pool = {w: _Worker(w, jobs[w::workers], work, out, warmup) for w in range(workers)}
    live = set(pool)
    try:
        while live:
            try:
                wid, kind, payload = out.get(timeout=tick)
            except queue.Empty:
                _stop_stuck(pool, live, timeout, start_timeout)
                continue
            _stop_stuck(pool, live, timeout, start_timeout)
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
                if not w.ready.is_set():  # it never started: a fresh worker would most likely do the same
                    why = (
                        f"{NOT_STARTED} within {start_timeout:g} s"
                        if w.start_timed_out
                        else f"{NOT_STARTED} ({_signal_name(w.proc.exitcode)})"
                    )
                    for i, job in w.jobs[w.started :]:
                        yield died(i, job, 0, why)
                    continue
                if w.current is not None:
                    i, job = w.current
                    why = f"stopped after the {timeout:g} s time limit per input" if w.timed_out else None
                    yield died(i, job, w.results, why or _signal_name(w.proc.exitcode))
                rest = w.jobs[w.started :]
                if rest:  # a fresh worker takes the jobs the dead one had not begun
                    pool[wid] = _Worker(wid, rest, work, out, warmup)
                    live.add(wid)
    finally:
        for w in pool.values():
            w.stop()
        while any(w.reader.is_alive() for w in pool.values()):  # readers blocked on a full queue: let them end
            try:
                out.get(timeout=0.1)
            except queue.Empty:
                pass


def _stop_stuck(pool: dict[int, _Worker], live: set[int], timeout: float | None, start_timeout: float | None) -> None:
    """Kill the live workers whose current job is over ``timeout`` seconds, and those still not
    ready ``start_timeout`` seconds after they were spawned."""
    for wid in live:
        w = pool[wid]
        if w.timed_out or w.start_timed_out:
            continue
        starting = w.starting_for()
        if starting is not None:
            if start_timeout is not None and starting > start_timeout:
                w.start_timed_out = True
                w.proc.kill()
        elif timeout is not None and w.current is not None and w.clock.seconds() > timeout:
            w.timed_out = True
            w.proc.kill()
