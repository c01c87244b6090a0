"""Preparers for the worker-pool tests (tests/transcribe/test_workers.py). They live here, on the
test path, because spawned workers import them by name; this module must not import torch."""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass

from avsr.recognizers.prepare import Preparer, Segment


@dataclass(frozen=True)
class Probe(Preparer):
    """Two segments per input, saying which process made them and whether torch is loaded there."""

    def __call__(self, item, cid, source, extra=None, media=None):
        facts = {"pid": os.getpid(), "torch": "torch" in sys.modules}
        for k in range(2):
            yield Segment(item=item, id=cid, source=source, index=k, final=k == 1, extra=dict(facts))


@dataclass(frozen=True)
class Crasher(Probe):
    """Like Probe, but the process is killed in the middle of the input whose id is ``bad``."""

    def __call__(self, item, cid, source, extra=None, media=None):
        for seg in super().__call__(item, cid, source, extra):
            yield seg
            if cid == "bad":
                os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class Sleeper(Probe):
    """Yields one segment, then sleeps: a worker that is still busy when its parent dies."""

    def __call__(self, item, cid, source, extra=None, media=None):
        yield next(iter(super().__call__(item, cid, source, extra)))
        time.sleep(120)


@dataclass(frozen=True)
class Staller(Probe):
    """Like Probe, but the input whose id is ``stall`` never finishes (a file that decodes forever)."""

    def __call__(self, item, cid, source, extra=None, media=None):
        for seg in super().__call__(item, cid, source, extra):
            if cid == "stall" and seg.index == 1:
                time.sleep(3600)
            yield seg
