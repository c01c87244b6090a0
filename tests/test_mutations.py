"""The mutation harness (tests/mutations.py) on `avsr transcribe` and `avsr roi`: about 100
seeded mutants of the real fixtures per run, a new seed each run (printed; replay with
AVSR_MUTATION_SEED=N, more with AVSR_MUTATIONS=N or `python bench/mutations.py`)."""

import os
import shutil
import time

import pytest
from mutations import VIDEOS, check, cli, lines, make, originals, run

from avsr.core.media import VIDEO_EXTENSIONS

SEED = int(os.environ.get("AVSR_MUTATION_SEED") or time.time_ns() % 2**31)
N = int(os.environ.get("AVSR_MUTATIONS", "100"))
LIMIT = "60"  # --timeout: seconds an input may take to prepare


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    print(f"\nmutation seed {SEED} ({N} mutants): replay with AVSR_MUTATION_SEED={SEED}")
    root = tmp_path_factory.mktemp("mutants")
    mutants = make(SEED, N, root / "in")
    return root, mutants, originals(root / "in"), originals(root / "alone")


@pytest.mark.slow
def test_transcribe_keeps_the_invariants(inputs, tmp_path):
    root, mutants, origs, alone = inputs
    base = ["--whisper", "whisper-tiny.en", "--timeout", LIMIT, "-q"]
    ref_out = tmp_path / "alone.jsonl"
    ref = run(cli("transcribe", str(root / "alone"), "-o", str(ref_out), *base), tmp_path / "tmp0", 600)
    assert ref.returncode == 1, ref.stderr[-2000:]  # the silent carphone clip needs a lip reader
    reference = {r["id"]: r for r in lines(ref_out)}
    out = tmp_path / "out.jsonl"
    proc = run(cli("transcribe", str(root / "in"), "-o", str(out), "-j", "1", *base), tmp_path / "tmp1", 1800)
    expected = {m.path.stem for m in mutants} | {p.stem for p in origs}
    bad = check(proc, lines(out), expected, tmp_path, tmp_path / "tmp1", reference)
    assert not bad, f"seed {SEED}: " + "\n".join(bad)


@pytest.mark.slow
def test_roi_keeps_the_invariants(inputs, tmp_path):
    root, mutants, origs, alone = inputs
    videos = root / "videos"
    videos.mkdir(exist_ok=True)
    for p in [m.path for m in mutants] + origs:
        if p.suffix.lower() in VIDEO_EXTENSIONS and not (videos / p.name).exists():
            if p.is_fifo():
                os.mkfifo(videos / p.name)
            else:
                shutil.copy(p, videos / p.name)
    out = tmp_path / "roi"
    proc = run(cli("roi", str(videos), "-o", str(out), "-j", "2", "--timeout", LIMIT), tmp_path / "tmp", 1800)
    records = lines(out / "manifest.jsonl") + lines(out / "errors.jsonl")
    expected = {p.stem for p in videos.iterdir()}
    ref_out = tmp_path / "roi-alone"
    run(cli("roi", *map(str, VIDEOS), "-o", str(ref_out)), tmp_path / "tmp0", 600)
    reference = {f"orig_{r['id']}": r for r in lines(ref_out / "manifest.jsonl")}
    mine = {r["id"]: r for r in records}
    bad = check(proc, records, expected, out, tmp_path / "tmp", None, key="roi")
    for cid, r in reference.items():  # the untouched clips: the same frames and face ratio as alone
        got = mine.get(cid, {})
        if (got.get("frames"), got.get("face_ratio")) != (r.get("frames"), r.get("face_ratio")):
            bad.append(f"{cid}: untouched clip changed by the batch around it: {got} vs alone {r}")
    assert not bad, f"seed {SEED}: " + "\n".join(bad)


def test_the_faults_the_1000_mutant_run_found_stay_fixed(tmp_path):
    """Seed 20261201 of bench/mutations.py: bit flips and truncations that gave an audio stream a
    new sample format mid-way (PyAV's resampler refused it) and a video stream an unknown codec
    (no codec context): both used to end in an unexpected exception."""
    mutants = make(20261201, 617, tmp_path / "all")
    picked = tmp_path / "picked"
    picked.mkdir()
    for m in mutants:
        if m.path.stem in ("m0001_truncate", "m0123_flip", "m0484_flip", "m0616_flip"):
            shutil.copy(m.path, picked / m.path.name)
    out = tmp_path / "t.jsonl"
    proc = run(
        cli("transcribe", str(picked), "-o", str(out), "--whisper", "whisper-tiny.en", "-q"), tmp_path / "t0", 600
    )
    assert not check(proc, lines(out), {p.stem for p in picked.iterdir()}, tmp_path, tmp_path / "t0")
    assert {r["id"] for r in lines(out) if "text" in r} >= {"m0484_flip", "m0616_flip"}
    roi = tmp_path / "roi"
    proc = run(cli("roi", str(picked), "-o", str(roi), "-j", "2"), tmp_path / "t1", 600)
    recs = lines(roi / "manifest.jsonl") + lines(roi / "errors.jsonl")
    assert not check(proc, recs, {p.stem for p in picked.iterdir()}, roi, tmp_path / "t1", None, key="roi")
    assert "unknown codec" in {r["id"]: r for r in recs}["m0123_flip"]["error"]
