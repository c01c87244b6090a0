"""`avsr transcribe` over many inputs: a miniature LRS3-layout corpus of real face video with real
speech, a tiny random Whisper (real tokenizer), real mediapipe crops, real Lightning prediction."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from avtools import save_tiny_whisper
from minilrs import build_mini_lrs3, speech

from avsr.core.audio import read_audio, write_wav
from avsr.core.media import SAMPLE_RATE

CLI = [sys.executable, "-m", "avsr.cli", "transcribe"]
VOLATILE = ("timings",)  # wall-clock seconds: the only fields that differ between two runs


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("lrs3")
    clips = build_mini_lrs3(root, n=8)
    return root / "test", clips


@pytest.fixture(scope="module")
def whisper(tmp_path_factory):
    return save_tiny_whisper(tmp_path_factory.mktemp("whisper"))


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def stable(recs):
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in recs]


def test_split_audio_cuts_in_pauses():
    """70 s of real speech (14 utterances with 0.4 s pauses): segments of at most 30 s whose
    joins fall in the pauses, on video frame boundaries, and that add up to the input exactly."""
    from avsr.core.segments import CUT_FRAME, SegmentConfig, split_audio

    gap = np.zeros(int(0.4 * SAMPLE_RATE), np.float32)
    utts = [read_audio(r["audio"]) for r in speech()]
    audio = np.concatenate([x for u in utts * 2 for x in (u, gap)])
    assert len(audio) > 60 * SAMPLE_RATE
    blocks = (audio[s : s + 3 * SAMPLE_RATE] for s in range(0, len(audio), 3 * SAMPLE_RATE))
    segs = list(split_audio(blocks, SegmentConfig()))
    assert len(segs) >= 3 and all(len(a) <= 30 * SAMPLE_RATE for _, a in segs)
    assert np.array_equal(np.concatenate([a for _, a in segs]), audio)
    for (start, a), (nxt, _) in zip(segs, segs[1:]):
        assert start + len(a) == nxt and nxt % CUT_FRAME == 0
        assert np.abs(audio[nxt : nxt + CUT_FRAME]).max() < 1e-3  # the cut is in silence, not inside a word


def test_batch_equals_sequential_api_with_captions(corpus, whisper, tmp_path):
    from avsr.recognizers.audiovisual import AVRecognizer

    folder, clips = corpus
    out = tmp_path / "out.jsonl"
    r = subprocess.run(
        CLI
        + [
            str(folder),
            "--whisper",
            str(whisper),
            "-o",
            str(out),
            "-j",
            "1",
            "--batch-size",
            "3",
            "--srt",
            str(tmp_path / "srt"),
            "--vtt",
            str(tmp_path / "vtt"),
            "--crops",
            str(tmp_path / "crops"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    recs = lines(out)
    assert [x["id"] for x in recs] == [c["id"] for c in clips]  # input order, one line each
    rec = AVRecognizer.from_pretrained(str(whisper))
    for x, c in zip(recs, clips):
        seq = rec.transcribe(c["video"], "avsr")
        assert x["text"] == seq["text"] and x["mode"] == "avsr" and x["adapter"] == "none" and x["face_ratio"] == 1.0
        assert x["model"] == {"whisper": str(whisper), "engine": "ct2 float32"} and set(x["timings"]) >= {
            "prepare",
            "noise",
            "decode",
        }
        assert os.path.isfile(x["montage"]) and x["montage"].endswith(f"{x['id']}.crops.png")
        srt = (tmp_path / "srt" / f"{x['id']}.srt").read_text()
        vtt = (tmp_path / "vtt" / f"{x['id']}.vtt").read_text()
        seg = x["segments"][0]  # captions: cues of <= 2 lines, their words the text's; no 'words' in the output
        blocks = [b.split("\n") for b in srt.strip().split("\n\n")] if srt.strip() else []
        assert [w for b in blocks for line in b[2:] for w in line.split()] == seg["text"].split()
        assert all(b[0] == str(i) and " --> " in b[1] and 3 <= len(b) <= 4 for i, b in enumerate(blocks, 1))
        assert vtt.startswith("WEBVTT\n\n") and vtt.count(" --> ") == len(blocks) and "words" not in seg
    assert "8 transcribed, 0 already done, 0 failed" in r.stderr
    r = subprocess.run(
        CLI + [str(folder), "--whisper", str(whisper), "-o", str(out)], capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0 and "0 transcribed, 8 already done" in r.stderr and lines(out) == recs  # nothing redone


def test_bad_inputs_one_error_line_each(corpus, whisper, tmp_path, media):
    folder, clips = corpus
    zero_audio = tmp_path / "zero.wav"
    write_wav(zero_audio, np.zeros(0, np.float32))
    inputs = [
        clips[0]["video"],
        str(media.text_as_mp4),
        str(media.empty),
        str(media.no_face_with_audio),
        str(zero_audio),
        str(media.root / "missing.mp4"),
        clips[1]["video"],
    ]
    out = tmp_path / "out.jsonl"
    r = subprocess.run(
        CLI + inputs + ["--mode", "avsr", "--whisper", str(whisper), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 1, r.stderr[-3000:]
    recs = {x["id"]: x for x in lines(out)}
    assert len(recs) == len(inputs) and len(lines(out)) == len(inputs)
    assert "not a readable media file" in recs["notes"]["error"] and "empty file (0 bytes)" in recs["empty"]["error"]
    assert "no audio samples" in recs["zero"]["error"] and "no such file" in recs["missing"]["error"]
    assert recs["no_face_speech"]["visual"] is False  # no audio-visual set loaded: no crops were cut
    assert all("text" in recs[c["id"].split("/")[1]] for c in clips[:2])
    assert "3 transcribed, 0 already done, 4 failed" in r.stderr


def test_silent_video_without_lip_reader_says_what_is_missing(whisper, tmp_path, media, corpus):
    _, clips = corpus
    out = tmp_path / "out.jsonl"
    r = subprocess.run(
        CLI + [str(media.no_face), clips[0]["video"], "--whisper", str(whisper), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 1
    recs = lines(out)
    assert "silent video: lip reading needs a VSR model (--vsr)" in recs[0]["error"] and recs[1]["mode"] == "avsr"


def test_manifest_input_and_long_audio_in_segments(whisper, tmp_path):
    """A JSONL manifest (id, audio, text) as input; a 70 s recording is cut into <= 30 s
    segments whose texts make the record's text."""
    gap = np.zeros(int(0.4 * SAMPLE_RATE), np.float32)
    audio = np.concatenate([x for r in speech() * 2 for x in (read_audio(r["audio"]), gap)])
    write_wav(tmp_path / "long.wav", audio)
    (tmp_path / "m.jsonl").write_text(
        json.dumps({"id": "talk/long", "audio": "long.wav", "text": "A REFERENCE", "speaker": "x"}) + "\n"
    )
    out = tmp_path / "out.jsonl"
    r = subprocess.run(
        CLI + [str(tmp_path / "m.jsonl"), "--whisper", str(whisper), "-o", str(out), "--batch-size", "2"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    (rec,) = lines(out)
    assert rec["id"] == "talk/long" and rec["ref"] == "A REFERENCE" and rec["speaker"] == "x" and rec["mode"] == "asr"
    segs = rec["segments"]
    assert len(segs) >= 3 and all(s["end"] - s["start"] <= 30.0 for s in segs)
    assert segs[0]["start"] == 0.0 and all(a["end"] == b["start"] for a, b in zip(segs, segs[1:]))
    assert abs(segs[-1]["end"] - len(audio) / SAMPLE_RATE) < 1e-3
    assert rec["text"] == " ".join(s["text"] for s in segs if s["text"])


def test_killed_run_resumes_to_identical_output(corpus, whisper, tmp_path):
    """SIGKILL part-way, run again: the output equals an uninterrupted run's, line for line
    (no duplicate, no missing, no broken line); only wall-clock timings differ."""
    folder, clips = corpus
    args = [str(folder), "--whisper", str(whisper), "-j", "1", "--batch-size", "1", "-q"]
    full = tmp_path / "full.jsonl"
    r = subprocess.run(CLI + args + ["-o", str(full)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    part = tmp_path / "part.jsonl"
    p = subprocess.Popen(
        CLI + args + ["-o", str(part)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 300
    while time.time() < deadline and p.poll() is None:
        if part.exists() and part.read_text().count("\n") >= 2:
            break
        time.sleep(0.02)
    os.killpg(p.pid, signal.SIGKILL)  # the command and its worker processes, no cleanup
    p.wait()
    killed = part.read_text()
    assert 2 <= killed.count("\n") < len(clips), "the run was not interrupted part-way"
    r = subprocess.run(CLI + args + ["-o", str(part)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "already done" in r.stderr and part.read_text().startswith(killed)
    assert stable(lines(part)) == stable(lines(full))


def test_ddp_two_processes_on_cpu(corpus, whisper, tmp_path):
    """Lightning prediction with 2 CPU processes (gloo): each rank takes every other input,
    rank 0 merges the parts; the output equals a single-process run's, in input order."""
    folder, clips = corpus
    single, ddp = tmp_path / "single.jsonl", tmp_path / "ddp.jsonl"
    base = CLI + [str(folder), "--mode", "asr", "--whisper", str(whisper), "-j", "0", "-q"]
    assert subprocess.run(base + ["-o", str(single)], capture_output=True, timeout=600).returncode == 0
    r = subprocess.run(
        base + ["-o", str(ddp), "--devices", "2", "--strategy", "ddp"], capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "8 transcribed" in r.stderr and not list(tmp_path.glob("ddp.jsonl.part-*"))
    assert stable(lines(ddp)) == stable(lines(single))
