"""Media facts every floor relies on, named once: rates, crop sizes, extensions, and opening a
media file with a clear :class:`~avsr.core.errors.MediaError` when it is not one.

Video is decoded with PyAV (FFmpeg bundled in its wheel); see :mod:`avsr.core.video` and
:mod:`avsr.core.audio`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from avsr.core.errors import MediaError

FPS = 25  # video frame rate of every crop the package writes or reads
SAMPLE_RATE = 16000  # audio sample rate (Hz), mono
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640 audio samples per video frame
MOUTH_ROI_SIZE = 96  # side of the stored mouth crop (pixels)
MOUTH_CROP_SIZE = 88  # side of the random/centre crop fed to lip-reading models
FACE_ROI_SIZE = 224  # side of the VALLR-style full-face crop
VSR_SEGMENT_SECONDS = 16  # longer videos are lip-read in segments of at most this length
VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v", ".flv")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".opus")


@dataclass(frozen=True)
class VideoInfo:
    path: str
    width: int
    height: int
    fps: float  # average source frame rate
    duration: float  # seconds, from the container (0.0 when unknown)
    has_audio: bool
    codec: str


def open_media(path: str | os.PathLike):
    import av

    path = str(path)
    if not os.path.exists(path):
        raise MediaError(f"{path}: no such file")
    if os.path.isdir(path):
        raise MediaError(f"{path}: is a folder, not a media file")
    if os.path.getsize(path) == 0:
        raise MediaError(f"{path}: empty file (0 bytes)")
    try:
        return av.open(path, metadata_errors="ignore")
    except av.error.FFmpegError as e:  # type: ignore[attr-defined]
        # FFmpeg's own words without its error number (AVERROR_INVALIDDATA is [Errno 1094995529])
        why = "invalid data" if isinstance(e, av.error.InvalidDataError) else (e.strerror or str(e)).lower()
        raise MediaError(f"{path}: not a readable media file (FFmpeg could not read it: {why})") from e
    except UnicodeDecodeError as e:
        raise MediaError(f"{path}: not a readable media file ({e.__class__.__name__}: {e})") from e


@dataclass(frozen=True)
class MediaInfo:
    """What one look at a media file tells (lhotse's ``Recording``: probed once, carried with the
    job, used by every later read). ``has_video`` is False for a still image (cover art);
    ``video_error`` says why a video stream's header cannot be used (then :meth:`video` raises)."""

    path: str
    has_video: bool
    has_audio: bool
    width: int = 0
    height: int = 0
    fps: float = 0.0  # average source frame rate
    duration: float = 0.0  # seconds, from the container (0.0 when unknown)
    codec: str = ""
    video_error: str | None = None

    def video(self) -> VideoInfo:
        """The video facts; MediaError when there is no usable video stream."""
        if self.video_error:
            raise MediaError(self.video_error)
        if not self.width:
            raise MediaError(f"{self.path}: has no video stream")
        return VideoInfo(self.path, self.width, self.height, self.fps, self.duration, self.has_audio, self.codec)


def probe(path: str | os.PathLike) -> MediaInfo:
    """One look at a media file's header (one container open, nothing decoded): its streams and
    video facts. MediaError when the file is not readable media."""
    path = str(path)
    with open_media(path) as c:
        dur = float(c.duration / 1e6) if c.duration else 0.0
        has_audio = bool(c.streams.audio)
        if not c.streams.video:
            return MediaInfo(path, False, has_audio, duration=dur)
        s = c.streams.video[0]
        moving = (s.frames or 0) != 1  # a single frame: a still image, not a video
        cc = s.codec_context
        if cc is None:  # a codec id that no decoder knows (a damaged header)
            return MediaInfo(path, moving, has_audio, duration=dur, video_error=_bad_codec(path))
        if not cc.width or not cc.height:
            why = f"{path}: video stream has no frame size (corrupt header?)"
            return MediaInfo(path, moving, has_audio, duration=dur, video_error=why)
        rate = float(s.average_rate or s.guessed_rate or 0) or float(FPS)
        return MediaInfo(path, moving, has_audio, cc.width, cc.height, rate, dur, cc.name)


def _bad_codec(path: str) -> str:
    return f"{path}: video stream of an unknown codec (damaged header?)"


def streams(path: str | os.PathLike) -> tuple[bool, bool]:
    """(has a video stream, has an audio stream); MediaError when the file is not readable media.
    A still image counts as no video."""
    info = probe(path)
    return info.has_video, info.has_audio


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Container facts of a video file; raises MediaError when it has no decodable video stream."""
    return probe(path).video()
