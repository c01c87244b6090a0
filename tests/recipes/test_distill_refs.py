"""Distilled evaluation references (:func:`avsr.recipes.distill.transcribe_clips`): held-out
speakers' clips of the real speech fixtures transcribed one at a time, with a stand-in teacher
whose hypotheses are set per clip, so each filter (loop, improbable text, no speech) is hit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avsr.core.audio import read_audio
from avsr.core.errors import InputError
from avsr.core.jsonl import read_jsonl
from avsr.recipes.distill import GREEDY, distill, reject_reason, transcribe_clips
from avsr.whisper.decoding import Hypothesis

FIX = Path(__file__).parents[1] / "fixtures" / "speech"


class Teacher:
    """Answers each clip by its length (the clips differ in length): ``hyps[n_samples]``."""

    def __init__(self, hyps: dict[int, Hypothesis]):
        self.hyps, self.calls = hyps, []

    def eval(self):
        return self

    def features(self, batch):
        assert batch.ndim == 2
        return batch

    def decode(self, mel, crops=None, video_frames=None, audio=None, opts=None):
        assert opts == GREEDY and len(audio) == len(mel)  # greedy, each clip's own samples
        self.calls.append(len(audio))
        return [self.hyps[len(a)] for a in audio]


def records(tmp_path: Path) -> list[dict]:
    wavs = [FIX / "goforward_16k.wav", FIX / "something_16k.wav", *sorted(FIX.glob("*/*.wav"))[:3]]
    out = []
    for i, w in enumerate(wavs):
        n = len(read_audio(w))
        split = "test" if i % 2 == 0 else "val"
        out.append({"id": f"q/clip{i}", "audio": str(w), "speaker": f"s{i % 2}", "seconds": n / 16000,
                    "split": split, "package": "fixture"})  # fmt: skip
    assert len({round(r["seconds"] * 16000) for r in out}) == len(out)  # the teacher tells them apart by length
    return out


def test_per_clip_references_with_filters_and_resume(tmp_path):
    recs = records(tmp_path)
    lens = [round(r["seconds"] * 16000) for r in recs]
    hyps = {
        lens[0]: Hypothesis([1], " Go forward ten meters.", avg_logprob=-0.2, no_speech_prob=0.01),
        lens[1]: Hypothesis([1], "oh, " * 60, avg_logprob=-0.1),  # a decoding loop
        lens[2]: Hypothesis([1], "Mumble grumble.", avg_logprob=-1.4),  # improbable
        lens[3]: Hypothesis([], "", no_speech_prob=0.9, skipped="no-speech"),
        lens[4]: Hypothesis([1], "Something else.", avg_logprob=-0.5),
    }
    teacher = Teacher(hyps)
    out = tmp_path / "corpus"
    counts = transcribe_clips(recs, out, "speech_queen", batch_size=2, model=teacher)
    assert counts == {"skipped": 0, "rejected": 3, "test": 2}
    assert teacher.calls == [2, 2, 1]  # batches of 2, one hypothesis per clip
    test = list(read_jsonl(out / "speech_queen_test.jsonl"))
    assert [r["id"] for r in test] == ["q/clip0", "q/clip4"] and not (out / "speech_queen_val.jsonl").exists()
    r = test[0]
    assert (r["text"], r["reference"], r["speaker"], r["split"]) == (
        "Go forward ten meters.",
        "distilled whisper-base",
        "s0",
        "test",
    )
    assert r["package"] == "fixture" and r["avg_logprob"] == -0.2 and (out / r["audio"]).resolve().is_file()
    rej = {r["id"]: r["reason"] for r in read_jsonl(out / "speech_queen_rejected.jsonl")}
    assert rej == {"q/clip1": "loop", "q/clip2": "improbable", "q/clip3": "no-speech"}

    teacher.calls.clear()  # resume: nothing left
    assert transcribe_clips(recs, out, "speech_queen", model=teacher) == {"skipped": 5, "rejected": 0}
    assert not teacher.calls
    more = {**recs[1], "id": "q/clip5", "split": "val"}  # a new clip: only it is transcribed
    teacher.hyps[lens[1]] = Hypothesis([1], "Something.", avg_logprob=-0.3)
    assert transcribe_clips([*recs, more], out, "speech_queen", model=teacher) == {
        "skipped": 5,
        "rejected": 0,
        "val": 1,
    }
    assert [r["id"] for r in read_jsonl(out / "speech_queen_val.jsonl")] == ["q/clip5"]


def test_reject_reason():
    assert reject_reason(Hypothesis([1], "Fine.", avg_logprob=-0.99)) is None
    assert reject_reason(Hypothesis([1], "Fine.", avg_logprob=-1.01)) == "improbable"
    assert reject_reason(Hypothesis([1], "   ")) == "no-speech"
    assert reject_reason(Hypothesis([], "", skipped="silence")) == "no-speech"
    assert reject_reason(Hypothesis([1], "la " * 80)) == "loop"


def test_windows_refuse_a_resume_over_other_clips(tmp_path):
    recs = records(tmp_path)

    class Gen(Teacher):
        def generate(self, mel):
            return ["Some words." for _ in mel]

    distill(recs[:2], tmp_path, window_seconds=60.0, model=Gen({}))
    assert [r["parts"] for r in read_jsonl(tmp_path / "distilled.jsonl")] == [["q/clip0", "q/clip1"]]
    with pytest.raises(InputError, match="other clips"):
        distill(recs[2:], tmp_path, window_seconds=60.0, model=Gen({}))
    assert np.isfinite(read_audio(tmp_path / "audio" / "distilled" / "00000.wav")).all()
