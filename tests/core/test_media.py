import numpy as np
import pytest
from conftest import CARPHONE, PYFEAT, SPEECH

from avsr.core.audio import read_audio, write_wav
from avsr.core.errors import MediaError
from avsr.core.files import atomic_path
from avsr.core.media import FPS, MOUTH_CROP_SIZE, MOUTH_ROI_SIZE, SAMPLE_RATE, SAMPLES_PER_FRAME, probe_video
from avsr.core.video import CropWriter, iter_frames, read_crops


def test_constants_are_consistent():
    assert SAMPLES_PER_FRAME * FPS == SAMPLE_RATE
    assert MOUTH_CROP_SIZE < MOUTH_ROI_SIZE


def test_probe_real_video():
    info = probe_video(CARPHONE)
    assert (info.width, info.height) == (176, 144)
    assert info.fps == pytest.approx(29.97, abs=0.01)
    assert not info.has_audio
    assert probe_video(PYFEAT).has_audio


def test_resample_to_25fps_by_timestamps():
    frames = list(iter_frames(CARPHONE))  # 120 frames at 29.97 fps = 4.0 s
    assert len(frames) == 100
    assert [f.index for f in frames] == list(range(100))
    assert frames[-1].time == pytest.approx(99 / 25)


def test_variable_frame_rate_picks_nearest_frame(media):
    times = media.vfr_times
    out = list(iter_frames(media.vfr))
    assert len(out) == int(np.floor(times[-1] * 25 + 1e-9)) + 1
    src = {f.pts * f.time_base: i for i, f in enumerate(_decoded(media.vfr))}
    src_times = np.array(sorted(float(t) for t in src))
    for f in out:
        nearest = src_times[np.argmin(np.abs(src_times - f.time))]
        assert float(f.image.time) == pytest.approx(nearest, abs=1e-3)


def _decoded(path):
    import av

    with av.open(str(path)) as c:
        return list(c.decode(video=0))


def test_read_audio_16k_mono():
    a = read_audio(SPEECH)
    assert a.dtype == np.float32 and a.ndim == 1
    assert len(a) == pytest.approx(89204 // 2 - 22, abs=50)  # 16-bit WAV: ~2.8 s
    assert 0.01 < np.abs(a).max() <= 1.0
    assert read_audio(CARPHONE) is None


def test_audio_muxed_into_video_is_recovered(media):
    a = read_audio(media.with_audio)
    ref = read_audio(SPEECH)
    n = min(len(a), len(ref))
    assert n > 0.95 * len(ref)
    assert np.corrcoef(a[:n], ref[:n])[0, 1] > 0.95  # same samples, aligned (AAC is lossy)


@pytest.mark.parametrize("color", [False, True])
def test_crop_writer_is_lossless(tmp_path, color):
    rng = np.random.default_rng(0)
    shape = (12, 96, 96, 3) if color else (12, 96, 96)
    crops = rng.integers(0, 256, shape, dtype=np.uint8)
    with CropWriter(tmp_path / "c.roi.mkv", 96, color) as w:
        for c in crops:
            w.write(c)
    assert np.array_equal(read_crops(tmp_path / "c.roi.mkv"), crops)
    assert [p.name for p in tmp_path.iterdir()] == ["c.roi.mkv"]


def test_crop_writer_leaves_nothing_when_interrupted(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with CropWriter(tmp_path / "c.roi.mkv", 96, False) as w:
            w.write(np.zeros((96, 96), np.uint8))
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_wav_roundtrip(tmp_path):
    a = (np.sin(np.arange(16000) / 7) * 0.5).astype(np.float32)
    write_wav(tmp_path / "a.wav", a)
    b = read_audio(tmp_path / "a.wav")
    assert np.abs(a - b).max() < 1e-3


@pytest.mark.parametrize("name, message", [("empty", "empty file"), ("text_as_mp4", "not a readable media file")])
def test_bad_files_raise_clear_errors(media, name, message):
    with pytest.raises(MediaError, match=message):
        list(iter_frames(getattr(media, name)))


def test_missing_and_folder(tmp_path):
    with pytest.raises(MediaError, match="no such file"):
        probe_video(tmp_path / "nope.mp4")
    with pytest.raises(MediaError, match="is a folder"):
        probe_video(tmp_path)


def test_atomic_files_get_normal_permissions(tmp_path):
    import os
    import stat

    with atomic_path(tmp_path / "x.txt") as tmp:
        tmp.write_text("x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "x.txt").stat().st_mode) == 0o666 & ~umask


def test_non_finite_samples_become_silence_not_nan(tmp_path):
    """A float WAV with NaN and +-Inf samples: read as finite audio in [-1, 1], the bad samples 0."""
    import struct

    from avsr.core.audio import read_audio

    a = (np.sin(np.arange(16000) / 10) * 0.5).astype("<f4")
    a[[10, 200, 3000]] = [np.nan, np.inf, -np.inf]
    data = a.tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, 16000, 64000, 4, 32)
    wav = tmp_path / "float.wav"
    wav.write_bytes(b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt)
    with open(wav, "ab") as f:
        f.write(b"data" + struct.pack("<I", len(data)) + data)
    got = read_audio(wav)
    assert np.isfinite(got).all() and np.abs(got).max() <= 1.0 and got[[10, 200, 3000]].tolist() == [0, 0, 0]
    assert np.allclose(got[:10], a[:10], atol=1e-6)


def test_inputs_that_are_not_files_are_named(tmp_path):
    """Named pipes, symbolic link loops and broken links, given or inside a folder: one error
    record each, saying what they are; the folder's real files still become jobs."""
    import os

    from avsr.core.jobs import collect_inputs

    d = tmp_path / "in"
    d.mkdir()
    (d / "ok.wav").write_bytes(b"x")
    os.mkfifo(d / "pipe.wav")
    (d / "a.wav").symlink_to("b.wav")
    (d / "b.wav").symlink_to("a.wav")
    (d / "gone.mp4").symlink_to(tmp_path / "nowhere.mp4")
    (d / "loop").symlink_to(d)  # a folder loop: not followed forever
    jobs, errors = collect_inputs([str(d), str(d / "pipe.wav")], (".wav", ".mp4"))
    assert [j.id for j in jobs] == ["ok"]
    why = {e["id"]: e["error"] for e in errors}
    assert "a named pipe, not a media file" in why["pipe"] and "symbolic links" in why["a"]
    assert "a broken symbolic link" in why["gone"]
