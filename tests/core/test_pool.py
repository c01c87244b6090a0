"""The per-input time limit of the worker pool (avsr/core/pool.py) counts only the input's own
work: not the worker's start-up (interpreter, imports, the job function's warm-up), which has a
separate, generous limit of its own."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from conftest import CARPHONE
from poolprobes import BadStart, SlowStart

from avsr.core.jobs import Job
from avsr.core.pool import in_workers, start_limit


def _jobs(*ids):
    return [(i, Job(c, f"/nowhere/{c}.mp4")) for i, c in enumerate(ids)]


def _died(i, job, results, why):
    return job.id, why


def _run(work, ids, **kw):
    """{job id: pid of the worker that did it, or why it failed}, and the seconds it all took."""
    t = time.monotonic()
    got = dict(in_workers(_jobs(*ids), work, kw.pop("workers", 1), 1, _died, warmup=work.warmup, **kw))
    return got, time.monotonic() - t


def test_a_slow_start_is_not_the_first_inputs_time_and_a_slow_input_still_fails():
    """The warm-up takes 1.5 s against a 1 s limit per input: every quick input passes (the first
    one included); an input that really takes longer than 1 s fails with the reason, and a fresh
    worker (warming up again) does the rest."""
    work = SlowStart(warm_seconds=1.5, slow=("slow",), slow_seconds=60)
    got, took = _run(work, ["a", "b", "slow", "c"], timeout=1)
    assert got["slow"] == "stopped after the 1 s time limit per input"
    assert all(isinstance(got[c], int) for c in "abc"), got
    assert got["a"] == got["b"] != got["c"]  # the worker killed on "slow" was replaced
    assert took < 30


def test_a_worker_that_does_not_start_in_time_fails_its_inputs():
    got, took = _run(SlowStart(warm_seconds=3600), ["a", "b"], timeout=1, start_timeout=2)
    assert got == {c: "the worker did not start within 2 s" for c in "ab"}
    assert took < 30


def test_a_worker_that_exits_before_it_starts_fails_its_inputs_once():
    """No fresh worker for them: one that cannot start would be replaced forever."""
    got, _ = _run(BadStart(exit_code=3), ["a", "b", "c"], workers=2, timeout=5)
    assert got == {c: "the worker did not start (exit code 3)" for c in "abc"}


def test_a_failed_warm_up_is_only_a_lost_head_start():
    got, _ = _run(BadStart(), ["a", "b"], timeout=5)
    assert all(isinstance(v, int) for v in got.values()) and set(got) == {"a", "b"}


def test_the_start_up_limit_is_generous():
    assert start_limit(None) is None
    assert start_limit(2) == 60 and start_limit(30) == 300


def test_roi_warm_up_loads_mediapipe_and_its_graphs():
    from avsr.roi.batch import warm_up
    from avsr.roi.config import RoiConfig

    warm_up(RoiConfig())  # a failure here would be swallowed in a worker: it must work
    assert "mediapipe" in sys.modules


def test_avsr_roi_with_a_short_time_limit_on_a_real_clip(tmp_path: Path):
    """A clip whose own work takes well under a second is not failed by a 2 s limit, however long
    the worker takes to import avsr, OpenCV and mediapipe and build its graphs."""
    out = tmp_path / "roi"
    cmd = [sys.executable, "-m", "avsr.cli", "-v", "roi", str(CARPHONE), "-o", str(out), "--timeout", "2"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "avsr-worker-0 started in" in r.stderr  # it went through a worker (the limit needs one)
    assert "failed" not in r.stderr and "1 clips extracted, 0 already done, 0 failed" in r.stdout
    assert "XNNPACK" not in r.stderr  # the worker's warm-up keeps mediapipe's start-up chatter quiet too
    man = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [m["id"] for m in man] == [CARPHONE.stem]
    assert (out / "errors.jsonl").read_text() == ""
    assert (out / man[0]["roi"]).stat().st_size > 0
