"""The output records a researcher reads: in input order whatever fails before the run, portable
model names, the noise estimate of a long file, the mode of an audio file from the Python API,
and a resume that refuses other options instead of mixing them into one file."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from avtools import FIXTURES

from avsr.cli import main
from avsr.core.audio import read_audio, write_wav
from avsr.core.jsonl import read_jsonl

GO, SOMETHING = FIXTURES / "goforward_16k.wav", FIXTURES / "speech" / "something_16k.wav"


def run(capsys, *args: str) -> tuple[int, str]:
    try:
        code = main(["transcribe", *args, "-q", "-j", "0"])
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr().err


def test_lines_keep_input_order_around_missing_and_duplicate_inputs(tmp_path, capsys):
    a, c = tmp_path / "a.wav", tmp_path / "c.wav"
    shutil.copy(GO, a)
    shutil.copy(SOMETHING, c)
    out = tmp_path / "out.jsonl"
    code, _ = run(capsys, str(a), str(tmp_path / "missing.wav"), str(c), str(a), "-o", str(out))
    assert code == 1  # inputs failed
    lines = list(read_jsonl(out))
    assert [(r["id"], "error" in r) for r in lines] == [("a", False), ("missing", True), ("c", False), ("a", True)]
    assert "duplicate clip id" in lines[3]["error"] and all("_position" not in r for r in lines)


def test_records_name_shipped_models_portably_and_keep_the_noise_estimate_of_long_files(tmp_path, capsys):
    speech = [read_audio(p) for p in sorted((FIXTURES / "speech" / "pocketsphinx_librivox").glob("*.wav"))]
    long = np.concatenate(speech * 2)  # > 30 s: two segments
    assert len(long) > 31 * 16000
    write_wav(tmp_path / "long.wav", long)
    out = tmp_path / "out.jsonl"
    assert run(capsys, str(tmp_path / "long.wav"), "-o", str(out))[0] == 0
    (rec,) = read_jsonl(out)
    assert len(rec["segments"]) >= 2
    assert (
        rec["model"]["adapters"] == "whisper-base-adapters" and rec["model"]["classifier"] == "whisper-base-noise-head"
    )
    assert "/" + "checkpoints" not in json.dumps(rec["model"])  # no install path
    probs = rec["noise"]["probs"]
    assert set(probs) == {"clean", "babble", "music", "noise", "sidespeaker"} and sum(probs.values()) == pytest.approx(
        1, abs=0.01
    )


def test_python_api_names_an_audio_file_asr_as_the_command_does():
    import avsr

    model = avsr.load_recognizer(adapter="none")
    assert model.transcribe(GO).mode == "asr"
    assert model.transcribe(FIXTURES.parent.parent / "examples" / "talking_face_speech.mp4").mode == "avsr"


def test_resume_with_other_options_is_refused(tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    assert run(capsys, str(GO), "-o", str(out))[0] == 0
    code, err = run(capsys, str(GO), str(SOMETHING), "-o", str(out), "--beam", "2")
    assert code == 2 and "written with other models or options" in err and "beam_size=2" in err
    assert len(list(read_jsonl(out))) == 1  # nothing appended
    code, err = run(capsys, str(GO), str(SOMETHING), "-o", str(out))  # the same options resume
    assert code == 0 and [r["id"] for r in read_jsonl(out)] == ["goforward_16k", "something_16k"]
