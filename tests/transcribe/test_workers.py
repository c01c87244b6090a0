"""The torch-free preparation workers of ``avsr transcribe -j N`` (avsr/transcribe/workers.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from avsr.core.jobs import Job
from avsr.recognizers.prepare import Preparer
from avsr.roi.config import RoiConfig
from avsr.transcribe.workers import PrepareJob, prepared

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from workerprobes import Crasher, Probe, Staller  # noqa: E402

ASR = "asr"  # the probes cut no crops: in this mode their workers skip the crop extraction's warm-up


def _jobs(*ids):
    return [(i, Job(c, f"/nowhere/{c}.mp4")) for i, c in enumerate(ids)]


def test_workers_prepare_every_input_in_processes_without_torch():
    """In the default mode the workers warm up the crop extraction (mediapipe) first: still no torch."""
    segs = list(prepared(_jobs("a", "b", "c", "d", "e"), Probe(), workers=2, prefetch=1))
    assert sorted((s.item, s.index) for s in segs) == [(i, k) for i in range(5) for k in range(2)]
    for i in range(5):  # an input's segments arrive in order, the last one final
        mine = [s for s in segs if s.item == i]
        assert [s.index for s in mine] == [0, 1] and [s.final for s in mine] == [False, True]
    pids = {s.extra["pid"] for s in segs}
    assert len(pids) == 2 and os.getpid() not in pids
    assert not any(s.extra["torch"] for s in segs)


def test_a_dead_worker_fails_its_input_and_a_new_one_takes_the_rest():
    segs = list(prepared(_jobs("a", "bad", "c", "d"), Crasher(mode=ASR), workers=1, prefetch=4))
    by_id = {}
    for s in segs:
        by_id.setdefault(s.id, []).append(s)
    assert set(by_id) == {"a", "bad", "c", "d"}
    bad = by_id["bad"]
    assert [s.index for s in bad] == [0, 1] and bad[-1].final
    assert "preparation worker died (killed by SIGKILL)" in bad[-1].error
    for c in "acd":
        assert [s.error for s in by_id[c]] == [None, None]
    assert by_id["a"][0].extra["pid"] != by_id["c"][0].extra["pid"]  # a fresh worker after the crash


def test_an_input_over_the_time_limit_fails_and_the_batch_goes_on():
    """A worker stuck on one input is stopped at the limit; a slow consumer does not count."""
    t = time.monotonic()
    segs = []
    for s in prepared(_jobs("a", "stall", "c", "d"), Staller(mode=ASR), workers=1, prefetch=1, timeout=3):
        segs.append(s)
        if s.id == "a":
            time.sleep(4)  # the main process is busy: the worker's results wait, its clock does not run
    assert time.monotonic() - t < 30
    by_id = {}
    for s in segs:
        by_id.setdefault(s.id, []).append(s)
    assert [s.error for s in by_id["a"]] == [None, None]  # waiting 4 s on the consumer was not held against it
    assert "took too long: stopped after the 3 s time limit per input (--timeout)" in by_id["stall"][-1].error
    assert by_id["stall"][-1].final and [s.error for s in by_id["c"] + by_id["d"]] == [None] * 4


def test_workers_die_with_their_parent():
    code = (
        "import sys; from avsr.core.jobs import Job; from avsr.transcribe.workers import prepared; "
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r}); from workerprobes import Sleeper; "
        "s = next(prepared([(0, Job('a', 'x'))], Sleeper(mode='asr'), 1, 1)); print(s.extra['pid'], flush=True); "
        "import time; time.sleep(120)"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(child):
            time.sleep(0.1)
        assert not _alive(child)
    finally:
        parent.kill()


def test_workers_warm_up_the_crop_extraction_only_when_inputs_may_need_it(monkeypatch):
    warmed = []
    monkeypatch.setattr("avsr.roi.batch.warm_up", warmed.append)
    face = RoiConfig(mode="face")
    cases = [
        (Preparer(), [RoiConfig()]),
        (Preparer(mode="vsr", roi=face), [face]),
        (Preparer(mode="avsr", crops=False, montage_dir="m"), [RoiConfig()]),
        (Preparer(mode=ASR), []),
        (Preparer(mode="avsr", crops=False), []),
        (Preparer(mode="vsr", unavailable={"vsr": "no VSR model"}), []),
        (Preparer(unavailable={"vsr": "no VSR model", "av": "no AV model"}), []),
    ]
    for prep, want in cases:
        warmed.clear()
        PrepareJob(prep).warmup()
        assert warmed == want, prep


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False
