"""Reading and writing video. Video is decoded with PyAV (FFmpeg bundled in its wheel) and
resampled to ``FPS`` by presentation timestamps, so variable-frame-rate files come out on a
regular 25 fps grid. Crops are stored losslessly (FFV1) and read back bit-exact.

Grey images: :func:`to_gray` reads a decoded frame's luma; :func:`rgb_to_gray` is the one
conversion of an RGB array (ITU-R BT.601 weights, rounded), used for colour crops in training
and at inference alike.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avsr.core.audio import AudioSpool
from avsr.core.errors import MediaError
from avsr.core.files import atomic_path
from avsr.core.media import FPS, MOUTH_CROP_SIZE, SAMPLE_RATE, open_media

BT601 = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601 luma weights of R, G, B


def rgb_to_gray(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB -> (...) uint8 grey: BT.601 luma, rounded. The one RGB-to-grey
    conversion of the package (training crops and inference crops see the same grey)."""
    return (rgb @ BT601).round().astype(np.uint8)


def centre_mouth(crops: np.ndarray) -> np.ndarray:
    """ROI crops (T, S, S) or (T, S, S, 3) uint8 -> the models' input: (T, 88, 88) uint8 grey,
    the centre MOUTH_CROP_SIZE square (a no-op on crops already that size)."""
    if crops.ndim == 4:
        crops = rgb_to_gray(crops)
    c = MOUTH_CROP_SIZE
    y, x = (crops.shape[1] - c) // 2, (crops.shape[2] - c) // 2
    return np.ascontiguousarray(crops[:, y : y + c, x : x + c])


@dataclass
class Frame:
    """One output frame on the 25 fps grid. ``image`` is the decoded av.VideoFrame (convert
    it with :func:`to_rgb` / :func:`to_gray` only as far as needed)."""

    index: int
    time: float  # seconds from the first frame
    image: object


def iter_frames(
    path: str | os.PathLike,
    fps: float = FPS,
    start: float = 0.0,
    end: float | None = None,
    audio: AudioSpool | None = None,
) -> Iterator[Frame]:
    """Yield frames resampled to ``fps`` by timestamp (nearest source frame for each output
    time ``k / fps``). Frame count is ``floor((t_last - t_first) * fps) + 1``. Truncated or
    partly corrupt streams yield what can be decoded; a stream with no decodable frame raises.

    ``start`` / ``end`` (seconds from the first frame) restrict the output to the grid times
    ``start <= k / fps < end``; the file is entered by seeking, so reading one range of a long
    video costs that range, not everything before it. Indices then count from 0 at ``start``;
    ``time`` stays measured from the first frame of the file.

    ``audio``: the audio is decoded in the same pass (one container open for both streams) into
    this :class:`~avsr.core.audio.AudioSpool`, to the end of the file even when the video stops
    earlier or the frames are not all taken; a broken audio stream ends the audio only. Not with
    ``start`` or ``end``."""
    import av

    if audio is not None and (start > 0 or end is not None):
        raise ValueError("iter_frames: audio= reads the whole file (no start / end)")

    step = 1.0 / fps
    k_first = math.ceil(start * fps - 1e-6) if start > 0 else 0
    k_stop = math.ceil(end * fps - 1e-6) if end is not None else None
    with open_media(path) as c:
        if not c.streams.video:
            raise MediaError(f"{path}: has no video stream")
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        src_step = 1.0 / float(s.average_rate or fps)
        t0 = None
        if k_first > 0:  # the grid is anchored at the file's first frame: find it, then seek
            t0 = _first_frame_time(c, s, path)
            c.seek(max(0, int((t0 + start) / s.time_base)), stream=s, backward=True, any_frame=False)
        prev = None  # (time, frame)
        k = k_first
        last_t = None

        def out(k: int, image) -> Frame:
            return Frame(k - k_first, k * step, image)

        both = audio is not None and bool(c.streams.audio)
        decoded = _demux(c, s, audio, path) if both else c.decode(s)
        try:
            for fr in decoded:
                if fr is _VIDEO_BROKE:
                    if prev is None:
                        raise MediaError(f"{path}: video cannot be decoded")
                    break
                t = fr.time if fr.time is not None else (last_t + src_step if last_t is not None else 0.0)
                if last_t is not None and t <= last_t:  # duplicate / out-of-order timestamps
                    t = last_t + 1e-6
                last_t = t
                if t0 is None:
                    t0 = t
                rel = t - t0
                if prev is not None:
                    mid = 0.5 * (prev[0] + rel)
                    while k * step < mid:
                        if k_stop is not None and k >= k_stop:
                            return
                        yield out(k, prev[1])
                        k += 1
                prev = (rel, fr)
        except (av.error.FFmpegError, OSError) as e:  # type: ignore[attr-defined]
            if prev is None:
                raise MediaError(f"{path}: video cannot be decoded ({e})") from e
        finally:
            if both:
                for _ in decoded:  # the audio after the video's last frame
                    pass
        if prev is None:
            raise MediaError(f"{path}: no decodable video frame" + (f" at or after {start:.2f} s" if k_first else ""))
        while k * step <= prev[0] + 1e-9 and (k_stop is None or k < k_stop):
            yield out(k, prev[1])
            k += 1


def _demux(c, video, audio: AudioSpool, path) -> Iterator[object]:
    """The video stream's decoded frames, the first audio stream's handed to ``audio`` as their
    packets come (one pass over the container). A video stream that breaks yields
    ``_VIDEO_BROKE`` once and no more frames; the audio goes on to the end of the file (the
    generator is drained when the video consumer stops: :func:`iter_frames`)."""
    import av

    stream = c.streams.audio[0]
    video_ok = True
    for packet in c.demux(video, stream):
        if packet.stream.index == stream.index:
            if audio.broken:
                continue
            try:
                for fr in packet.decode():
                    audio.add(fr)
            except (av.error.FFmpegError, OSError) as e:  # type: ignore[attr-defined]
                audio.fail(f"{path}: audio stream cannot be decoded ({e})")
        elif video_ok:
            try:
                frames = packet.decode()
            except (av.error.FFmpegError, OSError):  # type: ignore[attr-defined]
                video_ok = False
                yield _VIDEO_BROKE
                continue
            yield from frames


_VIDEO_BROKE = object()  # the video stream broke part-way (iter_frames stops there)


def _first_frame_time(c, s, path) -> float:
    import av

    try:
        for fr in c.decode(s):
            if fr.time is not None:
                return float(fr.time)
    except (av.error.FFmpegError, OSError) as e:  # type: ignore[attr-defined]
        raise MediaError(f"{path}: video cannot be decoded ({e})") from e
    raise MediaError(f"{path}: no decodable video frame")


FAST_CONVERT_MAX_SIDE = 1280  # larger frames are downscaled while converted (cheaper than all pixels)
_YUV_PLANAR = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21", "gray"}
_LIMITED_TO_FULL = np.clip((np.arange(256) - 16) * 255.0 / 219.0, 0, 255).round().astype(np.uint8)


def to_rgb(frame, max_side: int | None = None, scale: float = 1.0) -> tuple[np.ndarray, float]:
    """(H, W, 3) uint8 RGB of a decoded av.VideoFrame, downscaled by ``scale`` (or to fit
    ``max_side``); returns the image and the scale applied (output pixels per source pixel).
    Frames up to FAST_CONVERT_MAX_SIDE are converted at full size (the decoder's scaler is the
    slow part) and shrunk with OpenCV; larger ones are shrunk by the decoder while converting."""
    import cv2

    w, h = frame.width, frame.height
    if max_side is not None:
        scale = min(scale, max_side / max(w, h))
    scale = min(scale, 1.0)
    nw, nh = max(2, round(w * scale)), max(2, round(h * scale))
    if scale < 1.0 and max(w, h) > FAST_CONVERT_MAX_SIDE:
        return frame.reformat(width=nw, height=nh, format="rgb24").to_ndarray(), nw / w
    if frame.format.name == "yuv420p" and w % 2 == 0 and h % 2 == 0:
        rgb = cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2RGB_I420)  # ~2x faster than swscale
    else:
        rgb = frame.to_ndarray(format="rgb24")
    if scale >= 1.0:
        return rgb, 1.0
    return cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA), nw / w


def to_gray(frame) -> np.ndarray:
    """(H, W) uint8 full-range luma. For planar YUV frames this reads the Y plane directly
    (expanding limited-range video levels 16-235 to 0-255) instead of converting colour."""
    import cv2

    fmt = frame.format.name
    if fmt not in _YUV_PLANAR:
        return frame.to_ndarray(format="gray")
    plane = frame.planes[0]
    y = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[: frame.height, : frame.width]
    full = fmt.startswith("yuvj") or fmt == "gray" or int(getattr(frame, "color_range", 0) or 0) == 2
    return np.array(y) if full else cv2.LUT(np.ascontiguousarray(y), _LIMITED_TO_FULL)


class CropWriter:
    """Streams uint8 crops into a lossless FFV1 video (``.mkv``): (H, W) grey or (H, W, 3) RGB.
    Bit-exact on read-back; 2-4x smaller than raw arrays on real crops. Written to a
    temporary name and renamed by :meth:`close`, so an interrupted clip leaves nothing behind."""

    def __init__(self, path: str | os.PathLike, size: int, color: bool, fps: int = FPS):
        import av

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.tmp.mkv")
        self._fmt = "rgb24" if color else "gray"
        self._c = av.open(str(self._tmp), "w")
        self._s = self._c.add_stream("ffv1", rate=fps)
        self._s.width = self._s.height = size
        self._s.pix_fmt = "bgr0" if color else "gray"
        self.frames = 0

    def write(self, crop: np.ndarray) -> None:
        import av

        for p in self._s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(crop), format=self._fmt)):
            self._c.mux(p)
        self.frames += 1

    def close(self) -> None:
        for p in self._s.encode():
            self._c.mux(p)
        self._c.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        try:
            self._c.close()
        finally:
            if self._tmp.exists():
                self._tmp.unlink()

    def __enter__(self) -> CropWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def read_crops(path: str | os.PathLike) -> np.ndarray:
    """Crops written by :class:`CropWriter`: (T, H, W) uint8 grey or (T, H, W, 3) uint8 RGB."""
    with open_media(path) as c:
        s = c.streams.video[0]
        color = s.codec_context.pix_fmt not in ("gray", "gray8")
        fmt = "rgb24" if color else "gray"
        frames = [f.to_ndarray(format=fmt) for f in c.decode(s)]
    if not frames:
        raise MediaError(f"{path}: crop file holds no frame")
    return np.stack(frames)


def write_video(
    path: str | os.PathLike,
    frames,
    fps: float = FPS,
    audio: np.ndarray | None = None,
    times: list[float] | None = None,
    codec: str = "libx264",
    options: dict[str, str] | None = None,
) -> None:
    """Encode (H, W, 3) uint8 RGB frames (any iterable) to a video file, optionally with 16 kHz
    mono ``audio`` (AAC) muxed in. ``times`` (seconds, increasing) gives each frame its own
    timestamp, for variable-frame-rate files. Written atomically."""
    from fractions import Fraction

    import av

    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise ValueError("write_video: no frame to write")
    height, width = first.shape[0] // 2 * 2, first.shape[1] // 2 * 2  # yuv420p needs even sides
    path = Path(path)
    with atomic_path(path) as tmp:
        with av.open(str(tmp), "w", format=_container_format(path)) as c:
            vs = c.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
            vs.pix_fmt, vs.width, vs.height = "yuv420p", width, height
            if options:
                vs.options = options
            tb = Fraction(1, 90000)
            if times is not None:
                vs.codec_context.time_base = tb
            aus = None
            if audio is not None:  # every stream must exist before the first packet is muxed
                aus = c.add_stream("aac", rate=SAMPLE_RATE)
                aus.layout = "mono"
            for i, img in enumerate(itertools.chain([first], it)):
                f = av.VideoFrame.from_ndarray(np.ascontiguousarray(img[:height, :width]), format="rgb24")
                if times is not None:
                    f.pts, f.time_base = int(round(times[i] / tb)), tb
                for p in vs.encode(f):
                    c.mux(p)
            for p in vs.encode():
                c.mux(p)
            if aus is not None:
                pcm = np.clip(np.asarray(audio, np.float32), -1, 1).reshape(1, -1)
                for s in range(0, pcm.shape[1], 16384):
                    fr = av.AudioFrame.from_ndarray(
                        np.ascontiguousarray(pcm[:, s : s + 16384]), format="flt", layout="mono"
                    )
                    fr.sample_rate = SAMPLE_RATE
                    for p in aus.encode(fr):
                        c.mux(p)
                for p in aus.encode():
                    c.mux(p)


def _container_format(path: Path) -> str | None:
    return {".mkv": "matroska", ".mp4": "mp4", ".mov": "mov", ".avi": "avi", ".webm": "webm"}.get(path.suffix.lower())
