"""Job functions for the worker-pool tests (tests/core/test_pool.py). They live here, on the test
path, because spawned workers import them by name."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class SlowStart:
    """One result per job, ``(job id, worker pid)``, at once, except for the ids in ``slow``, which
    take ``slow_seconds`` first. Its ``warmup`` takes ``warm_seconds``: a worker slow to start
    (imports, models built before the first job), or one that never does."""

    warm_seconds: float = 0.0
    slow: tuple[str, ...] = ()
    slow_seconds: float = 0.0

    def __call__(self, i, job):
        if job.id in self.slow:
            time.sleep(self.slow_seconds)
        yield job.id, os.getpid()

    def warmup(self):
        time.sleep(self.warm_seconds)


@dataclass(frozen=True)
class BadStart(SlowStart):
    """A warm-up that fails: with an exception (``exit_code`` None) or by the process exiting."""

    exit_code: int | None = None

    def warmup(self):
        if self.exit_code is None:
            raise RuntimeError("no model here")
        os._exit(self.exit_code)
