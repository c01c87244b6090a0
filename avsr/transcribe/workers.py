"""Preparation worker processes for ``avsr transcribe -j N``, without torch.

A worker decodes media, cuts segments and extracts mouth crops (:class:`Preparer`: PyAV,
OpenCV, mediapipe, numpy). It is a spawned process that never imports torch, so it costs about
a quarter of what a DataLoader worker does: a DataLoader worker is a torch process, and
importing torch alone takes ~480 MB of resident memory here, against ~110 MB for everything
preparation needs.

Each worker takes every ``n``-th input and sends its segments through its own pipe. In the main
process a reader thread per worker moves them into one bounded queue (``prefetch`` segments per
worker), so a worker prepares ahead while the models decode, and stops when that much is
waiting. A worker that dies (a crash in a native library, the OOM killer) closes its pipe: the
input it was preparing gets an error segment, and a new worker takes its remaining inputs.
Workers die with the main process (``PR_SET_PDEATHSIG``), so a killed run leaves none behind.
"""
from __future__ import annotations

import functools
import os
import queue
import signal
import threading
from typing import Any, Iterator

from avsr.transcribe.prepare import Preparer, Segment

PR_SET_PDEATHSIG = 1  # prctl option: the signal a process gets when its parent exits
M_ARENA_MAX = -8  # mallopt option: the number of glibc malloc arenas
STOP_SECONDS = 5.0  # how long a worker may take to stop at the end before it is killed


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
    """A preparation worker computes on one core: the models' threads keep the others (on a
    small machine, oversubscribed OpenCV threads spin and slow everything down). Its FaceMesh
    threads share 2 malloc arenas instead of taking a new one each."""
    import cv2

    os.environ.setdefault("GLOG_minloglevel", "2")
    cv2.setNumThreads(1)
    _libc("mallopt", M_ARENA_MAX, 2)
    if parent is not None:
        _libc("prctl", PR_SET_PDEATHSIG, int(signal.SIGKILL))
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)


def _work(jobs: list[tuple[int, Any]], prep: Preparer, conn, parent: int) -> None:
    """Worker process: ("item", i) when input ``i`` starts, ("seg", Segment) for each of its
    segments, ("done", None) at the end."""
    init_worker(parent)
    try:
        for i, job in jobs:
            conn.send(("item", i))
            for seg in prep(i, job.id, job.source, job.extra):
                conn.send(("seg", seg))
                del seg
                release_memory()
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
    def __init__(self, wid: int, jobs: list[tuple[int, Any]], prep: Preparer, out: queue.Queue):
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.jobs, self.started = jobs, 0  # inputs begun so far
        self.current: tuple[int, Any] | None = None  # (item, job) being prepared
        self.next_index = 0  # segment index within the current input
        self.finished = False
        recv, send = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=_work, args=(jobs, prep, send, os.getpid()), daemon=True, name=f"avsr-prepare-{wid}")
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


def prepared(jobs: list[tuple[int, Any]], prep: Preparer, workers: int, prefetch: int) -> Iterator[Segment]:
    """The segments of ``jobs`` (``(item, Job)`` pairs) prepared in ``workers`` processes, in the
    order they are ready (an input's segments in order). At most ``prefetch`` segments per worker
    wait to be taken."""
    workers = max(1, min(workers, len(jobs)))
    if not jobs:
        return
    out: queue.Queue = queue.Queue(maxsize=max(1, prefetch) * workers)
    pool = {w: _Worker(w, jobs[w::workers], prep, out) for w in range(workers)}
    live = set(pool)
    try:
        while live:
            wid, kind, payload = out.get()
            w = pool[wid]
            if kind == "item":
                w.current, w.next_index = w.jobs[w.started], 0
                w.started += 1
            elif kind == "seg":
                w.next_index += 1
                if payload.final:
                    w.current = None
                yield payload
            elif kind == "done":
                w.finished = True
            else:  # eof: the worker has exited
                w.proc.join()
                live.discard(wid)
                if w.finished:
                    continue
                if w.current is not None:
                    i, job = w.current
                    yield Segment(item=i, id=job.id, source=job.source, index=w.next_index, extra=dict(job.extra),
                                  error=f"the preparation worker died ({_signal_name(w.proc.exitcode)}) while preparing this input")
                rest = w.jobs[w.started:]
                if rest:  # a fresh worker takes the inputs the dead one had not begun
                    pool[wid] = _Worker(wid, rest, prep, out)
                    live.add(wid)
    finally:
        for w in pool.values():
            w.stop()
        while any(w.reader.is_alive() for w in pool.values()):  # readers blocked on a full queue: let them end
            try:
                out.get(timeout=0.1)
            except queue.Empty:
                pass
