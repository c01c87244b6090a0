"""`avsr roi` over many inputs: outputs, errors, exit codes, resume after a kill."""

import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import CARPHONE, PYFEAT

from avsr.core.jsonl import read_jsonl
from avsr.core.video import read_crops
from avsr.roi.save import load_landmarks

AVSR = [sys.executable, "-m", "avsr.cli", "roi"]


def run(*args, **kw):
    return subprocess.run(AVSR + [str(a) for a in args], capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, media):
    """A folder with a space and non-ASCII name holding two good clips, one without audio,
    and three bad files (zero bytes, text named .mp4, no face)."""
    root = tmp_path_factory.mktemp("in") / "clips dé test"
    (root / "spk ü").mkdir(parents=True)
    shutil.copy(CARPHONE, root / "spk ü" / "carphone.mp4")
    shutil.copy(PYFEAT, root / "spk ü" / "pyfeat.mp4")
    shutil.copy(media.empty, root / "empty.mp4")
    shutil.copy(media.text_as_mp4, root / "notes.mp4")
    shutil.copy(media.no_face, root / "noface.mp4")
    return root


@pytest.fixture(scope="module")
def first_run(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "out ü"
    res = run(corpus, "-o", out, "-j", "2")
    return out, res


def test_exit_code_1_when_some_fail_and_rest_processed(first_run):
    out, res = first_run
    assert res.returncode == 1, res.stderr
    assert "2 clips extracted, 0 already done, 3 failed" in res.stdout
    ids = [r["id"] for r in read_jsonl(out / "manifest.jsonl")]
    assert ids == ["spk ü/carphone", "spk ü/pyfeat"]  # sorted by id
    errors = {r["id"]: r["error"] for r in read_jsonl(out / "errors.jsonl")}
    assert set(errors) == {"empty", "notes", "noface"}
    assert "empty file" in errors["empty"]
    assert "not a readable media file" in errors["notes"]
    assert "no face found" in errors["noface"]
    assert "Traceback" not in res.stderr and "W0000" not in res.stderr


def test_manifest_records_and_files(first_run):
    out, _ = first_run
    recs = {r["id"]: r for r in read_jsonl(out / "manifest.jsonl")}
    car, feat = recs["spk ü/carphone"], recs["spk ü/pyfeat"]
    assert car["frames"] == 100 and car["fps"] == 25 and car["face_ratio"] >= 0.9
    assert car["audio"] is None  # no audio track: ROI still there, audio marked absent
    assert feat["audio"] == "spk ü/pyfeat.wav" and (out / feat["audio"]).exists()
    crops = read_crops(out / car["roi"])
    assert crops.shape == (100, 96, 96) and crops.dtype == np.uint8
    lm = load_landmarks(out / car["landmarks"])
    assert lm["landmarks"].shape == (100, 468, 2) and lm["face"].dtype == bool
    assert lm["config"]["mode"] == "mouth"
    png = (out / car["qa"]).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.rglob(".*.tmp*"))


def test_rerun_skips_finished_clips(first_run, corpus):
    out, _ = first_run
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.roi.mkv")}
    res = run(corpus, "-o", out)
    assert res.returncode == 1
    assert "0 clips extracted, 2 already done, 3 failed" in res.stdout
    assert before == {p: p.stat().st_mtime_ns for p in out.rglob("*.roi.mkv")}


def test_usage_errors_exit_2(tmp_path):
    assert run(PYFEAT, "-o", tmp_path, "-j", "0").returncode == 2
    r = run(PYFEAT, "-o", tmp_path, "--set", "smoothing=3")
    assert r.returncode == 2 and "unknown RoiConfig field" in r.stderr
    assert run("-o", tmp_path).returncode == 2  # no input


def test_changed_config_refuses_to_mix_outputs(tmp_path):
    assert run(PYFEAT, "-o", tmp_path).returncode == 0
    r = run(PYFEAT, "-o", tmp_path, "--mode", "face")
    assert r.returncode == 2 and "another ROI config" in r.stderr


def test_list_file_and_missing_entries(tmp_path):
    lst = tmp_path / "list.txt"
    lst.write_text(f"# clips\n{PYFEAT}\nmissing.mp4\n")
    r = run(lst, "-o", tmp_path / "o")
    assert r.returncode == 1
    errors = list(read_jsonl(tmp_path / "o" / "errors.jsonl"))
    assert len(errors) == 1 and "no such file" in errors[0]["error"]
    assert [x["id"] for x in read_jsonl(tmp_path / "o" / "manifest.jsonl")] == ["pyfeat_single_face_640x360"]


def test_killed_run_resumes_to_the_same_result(tmp_path, media):
    """SIGKILL a run mid-way; the re-run finishes and the outputs equal an uninterrupted run's."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(4):
        shutil.copy(CARPHONE if i % 2 else PYFEAT, src / f"clip{i}.mp4")
    ref = tmp_path / "ref"
    assert run(src, "-o", ref).returncode == 0
    out = tmp_path / "out"
    proc = subprocess.Popen(AVSR + [str(src), "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(read_jsonl(out / "manifest.jsonl"))) < 1:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_before = len(list(read_jsonl(out / "manifest.jsonl")))
    assert 1 <= n_before < 4, "the kill should land part-way"
    r = run(src, "-o", out)
    assert r.returncode == 0 and f"{4 - n_before} clips extracted, {n_before} already done" in r.stdout
    strip = lambda recs: [{k: v for k, v in x.items() if k != "source"} for x in recs]  # noqa: E731
    assert strip(read_jsonl(out / "manifest.jsonl")) == strip(read_jsonl(ref / "manifest.jsonl"))
    for f in ref.rglob("*.roi.mkv"):
        assert np.array_equal(read_crops(f), read_crops(out / f.name))
    assert not list(out.rglob(".*.tmp*"))


def test_output_path_that_is_a_file_is_a_usage_error(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    r = run(PYFEAT, "-o", f)
    assert r.returncode == 2 and "is not a folder" in r.stderr
