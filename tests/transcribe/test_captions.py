"""`avsr transcribe --srt/--vtt` without other flags: readable cues timed by word timestamps
computed for them, on a real 28 s reading (3 s of silence, then five LibriVox utterances), on
the torch-free CTranslate2 path; the JSONL is the one a run without captions writes."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from avtools import FIXTURES

from avsr.core.audio import read_audio, write_wav

pytest.importorskip("ctranslate2")


def speech_onset(audio: np.ndarray) -> float:
    """Seconds to the first of three 20 ms frames within 20 dB of the loudest one (clean speech)."""
    n = len(audio) // 320
    db = 10 * np.log10((audio[: n * 320].reshape(n, 320).astype(np.float64) ** 2).mean(1) + 1e-10)
    loud = db > db.max() - 20
    return float(np.argmax(loud[:-2] & loud[1:-1] & loud[2:]) * 0.02)


def seconds(stamp: str) -> float:
    h, m, s = re.split(":", stamp.replace(",", "."))
    return int(h) * 3600 + int(m) * 60 + float(s)


def cues(text: str, fmt: str) -> list[tuple[float, float, list[str]]]:
    blocks = text.strip().split("\n\n")
    if fmt == "vtt":
        assert blocks[0] == "WEBVTT"
        blocks = blocks[1:]
    out = []
    for i, b in enumerate(blocks, 1):
        lines = b.split("\n")
        if fmt == "srt":
            assert lines[0] == str(i)
            lines = lines[1:]
        start, end = lines[0].split(" --> ")
        out.append((seconds(start), seconds(end), lines[1:]))
    return out


def test_captions_are_readable_cues_from_speech_onset_by_default(tmp_path):
    clips = sorted((FIXTURES / "speech" / "pocketsphinx_librivox").glob("*.wav"))
    audio = [read_audio(p) for p in clips]
    wav = tmp_path / "reading.wav"
    write_wav(wav, np.concatenate([np.zeros(3 * 16000, np.float32), *audio]))
    out, plain = tmp_path / "out.jsonl", tmp_path / "plain.jsonl"
    code = (
        "import json, sys\n"
        "from avsr.cli import main\n"
        f"rc = main(['transcribe', {str(wav)!r}, '--srt', {str(tmp_path)!r}, '--vtt', {str(tmp_path)!r}, "
        f"'-o', {str(out)!r}, '-q'])\n"
        "print(json.dumps([m for m in ('torch', 'transformers', 'lightning') if m in sys.modules]))\n"
        "sys.exit(rc)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads(res.stdout.strip().splitlines()[-1]) == []  # captions keep the torch-free path
    rec = json.loads(out.read_text())
    assert rec["duration"] > 25 and len(rec["segments"]) == 1 and len(rec["text"]) > 300
    srt, vtt = cues((tmp_path / "reading.srt").read_text(), "srt"), cues((tmp_path / "reading.vtt").read_text(), "vtt")
    assert srt == vtt and len(srt) >= 6
    for start, end, lines in srt:
        assert 0 < end - start <= 7.0 and 1 <= len(lines) <= 2 and all(0 < len(x) <= 42 for x in lines)
    assert all(a[1] <= b[0] for a, b in zip(srt, srt[1:]))
    assert " ".join(" ".join(x) for *_, x in srt).split() == rec["text"].split()
    assert abs(srt[0][0] - (3 + speech_onset(audio[0]))) <= 0.1  # the first cue starts with the speech
    # the word times that timed the cues are not in the output (no --word-timestamps): same JSONL as without captions
    assert all("words" not in s for s in rec["segments"])
    from avsr.cli import main

    assert main(["transcribe", str(wav), "-o", str(plain), "-q"]) == 0
    same = json.loads(plain.read_text())
    rec.pop("timings"), same.pop("timings")
    assert json.dumps(rec) == json.dumps(same)
