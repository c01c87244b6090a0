"""Video -> stable mouth (or face) crops at 25 fps.

Two streaming passes over the decoded video keep memory flat with clip length (only
landmarks, ~4 KB a frame, are held):

1. analysis: sparse face detection linked into tracks, searching sooner for a lost face
   (:mod:`avsr.roi.detect`), and FaceMesh landmarks in tracking mode for each open track on two
   threads (:mod:`avsr.roi.landmarks`); the speaker (a person: the tracks of a face lost and
   found again count as one) is chosen over the whole clip, then gap filling, smoothing and
   similarity alignment give one crop transform per frame (:mod:`avsr.roi.geometry`; with
   ``align="mean_face"`` the face detector also runs on every frame and Auto-AVSR's own
   alignment is used instead, :mod:`avsr.roi.mean_face`);
2. render: each frame is warped straight into its crop and handed to a sink (memory or a
   lossless file).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

import avsr.roi.geometry as geometry
import avsr.roi.mean_face as mean_face
from avsr.core.audio import AudioSpool, read_audio
from avsr.core.errors import MediaError
from avsr.core.media import FPS, SAMPLE_RATE, VideoInfo, probe_video
from avsr.core.video import Frame, iter_frames, to_gray, to_rgb
from avsr.roi.config import RoiConfig
from avsr.roi.detect import FaceDetector, TrackSet
from avsr.roi.frame_cache import GRAY_CACHE_MAX_BYTES, GrayFrameCache, gray_source, kept_frame
from avsr.roi.landmarks import N_LANDMARKS, LandmarkPool, prepare
from avsr.roi.native_log import quiet_native_stderr


class NoFaceError(MediaError):
    """The video decodes but no face was found in it."""


@dataclass
class Analysis:
    """Everything known about a clip before its crops are rendered."""

    source: str
    landmarks: np.ndarray  # (T, 468, 2) float32 source pixels, NaN where no face was measured
    face: np.ndarray  # (T,) bool: a face was measured, or interpolated across a short gap
    measured: np.ndarray  # (T,) bool: FaceMesh ran on this frame and found the speaker
    transforms: np.ndarray  # (T, 2, 3) float32 source pixels -> crop pixels
    n_faces: int  # distinct faces (people) seen: tracks of one face lost and found again count once
    width: int
    height: int
    warnings: list[str] = field(default_factory=list)
    start: float = 0.0  # the time range analysed (seconds from the first frame; end None = to the end)
    end: float | None = None
    fps: float = FPS  # frame rate of the analysed frames (25, or the source's own rate)
    keypoints: np.ndarray | None = None  # align="mean_face": (T, 4, 2) detector keypoints, NaN where none
    gray_cache: GrayFrameCache | None = field(default=None, repr=False)  # consumed by render()
    _decoding: tuple[int, Iterator[Frame]] | None = field(default=None, repr=False)  # (next index, frames)

    @property
    def frames(self) -> int:
        return len(self.face)

    @property
    def face_ratio(self) -> float:
        return float(self.face.mean()) if len(self.face) else 0.0

    def close(self) -> None:
        """Release the grey frames kept for :func:`render` (a temporary file), or the decode."""
        if self.gray_cache is not None:
            self.gray_cache.close()
            self.gray_cache = None
        if self._decoding is not None:
            self._decoding[1].close()
            self._decoding = None

    def decoded(self, path: str, first: int, stop: int) -> Iterator[tuple[int, object]]:
        """Frames ``first <= t < stop`` decoded again: ranges asked in order share one sequential
        decode of the file (one more open for all of them), an earlier range seeks."""
        if self._decoding is None or self._decoding[0] > first:
            self.close()
            t1 = None if self.end is None else self.start + self.frames / self.fps
            self._decoding = (first, iter_frames(path, fps=self.fps, start=self.start + first / self.fps, end=t1))
        t, it = self._decoding
        for fr in it:
            self._decoding = (t + 1, it)
            if t >= first:
                yield t, fr.image
            t += 1
            if t >= stop:
                return


@dataclass
class RoiClip(Analysis):
    """A processed clip: the analysis plus its crops (T, S, S) or (T, S, S, 3) uint8 and audio
    (16 kHz mono float32, None when the file has no audio track)."""

    crops: np.ndarray | None = None
    audio: np.ndarray | None = None
    config: RoiConfig = field(default_factory=RoiConfig)


def analyse(
    path: str | os.PathLike,
    cfg: RoiConfig | None = None,
    workers: int = 2,
    start: float = 0.0,
    end: float | None = None,
    fps: float | None = FPS,
    info: VideoInfo | None = None,
    audio: AudioSpool | None = None,
) -> Analysis:
    """Passes 1 and 2 in one decode: sparse detection, landmarks of every open face track on
    ``workers`` threads, then the speaker track's landmarks -> crop transforms. ``start`` /
    ``end`` (seconds) analyse one time range only (the speaker is chosen within it). ``fps``:
    the frame grid (default 25); None keeps the source's own average rate (every frame of a
    constant-rate file once, as Auto-AVSR's preparation does; frame counts in ``cfg`` are then
    source frames). ``info``: the file's video facts when already probed (else one more look at
    its header); ``audio``: decode the audio in the same pass into this spool (one container
    open for both streams; whole file only)."""
    cfg = cfg or RoiConfig()
    path = str(path)
    info = info or probe_video(path)
    rate = info.fps if fps is None else fps
    with quiet_native_stderr():
        a = _analyse(path, info, cfg, workers, start, end, rate, audio)
    a.start, a.end, a.fps = start, end, rate
    return a


def _span(info, start: float, end: float | None) -> float:
    """Declared seconds of video in [start, end) (0.0 when the container does not say)."""
    stop = info.duration if end is None else min(end, info.duration)
    return max(0.0, stop - start) if info.duration else 0.0


def _analyse(
    path: str,
    info,
    cfg: RoiConfig,
    workers: int,
    start: float = 0.0,
    end: float | None = None,
    rate: float = FPS,
    audio: AudioSpool | None = None,
) -> Analysis:
    det = FaceDetector(cfg)
    tracks = TrackSet(cfg)
    pool = LandmarkPool(cfg, workers)
    kp_det = mean_face.KeypointDetector(cfg.min_detection_confidence) if cfg.align == "mean_face" else None
    keypoints: list[list[np.ndarray]] = []  # align="mean_face": every frame's detector keypoints
    kw, kh, ch = kept_frame(cfg.gray_from, info.width, info.height)
    expected = _span(info, start, end) * rate * kw * kh * ch
    ok = not cfg.color and 0 < expected <= GRAY_CACHE_MAX_BYTES
    cache = GrayFrameCache(kw, kh, ch, kw / info.width) if ok else None
    n = 0
    try:
        for fr in iter_frames(path, fps=rate, start=start, end=end, audio=audio):
            n = fr.index + 1
            rgb = mean_face.peer_rgb(fr.image) if kp_det is not None else None
            if cache is not None:
                cache.append(rgb[0] if cfg.gray_from == "rgb" else to_gray(fr.image))
            image = None  # this frame as RGB (+ scale), converted at most once
            if tracks.due(fr.index, pool.news()):
                image = prepare(fr.image, cfg)
                tracks.update(fr.index, det(*_fit(image, cfg.detector_max_side)))
            if fr.index % cfg.landmark_stride == 0:
                for i, tr in tracks.active(fr.index):
                    image = image or prepare(fr.image, cfg)
                    pool.submit(fr.index, i, image, tr.box, tr.look)
            if rgb is not None:
                keypoints.append(kp_det(*rgb))
    except BaseException:
        if cache is not None:
            cache.close()
        raise
    finally:
        det.close()
        if kp_det is not None:
            kp_det.close()
        found = pool.finish()
    try:
        a = _conclude(path, info, cfg, tracks, found, n, _span(info, start, end), rate, keypoints)
    except BaseException:
        if cache is not None:
            cache.close()
        raise
    a.gray_cache = cache
    return a


def _conclude(
    path: str,
    info,
    cfg: RoiConfig,
    tracks: TrackSet,
    found: dict,
    n: int,
    declared: float,
    rate: float = FPS,
    keypoints: list[list[np.ndarray]] | None = None,
) -> Analysis:
    best, n_faces = tracks.speaker(cfg.min_track_frames, found)
    if not best:
        raise NoFaceError(f"{path}: no face found in {n} frames ({n / rate:.1f} s)")
    lm = np.full((n, N_LANDMARKS, 2), np.nan, np.float32)
    for i in best:  # the speaker's tracks: one person, seen at different times
        for t, pts in found.get(i, {}).items():
            lm[t] = pts
    measured = ~np.isnan(lm[:, 0, 0])
    if not measured.any():
        raise NoFaceError(f"{path}: a face was detected but no landmarks could be placed on it (blurred or too small?)")
    filled, interp = geometry.fill_gaps(lm, measured, max(cfg.max_gap, cfg.landmark_stride - 1))
    face = measured | interp
    last = int(np.flatnonzero(measured)[-1])
    if n - 1 - last < cfg.landmark_stride:  # frames after the last stride step were never tried
        face[last:] = True
    kp = None
    if cfg.align == "mean_face":
        kp = mean_face.speaker_keypoints((keypoints or [])[:n], filled)
        if np.isnan(kp).all():
            raise NoFaceError(f"{path}: the face detector placed no keypoints on the speaker's face")
        tf = mean_face.crop_transforms(kp, cfg.out_size)
    elif cfg.align == "box":
        tf = geometry.box_transforms(filled, cfg.out_size)
    else:
        tf = geometry.crop_transforms(filled, cfg.mode, cfg.out_size, cfg.scale, cfg.smooth_sigma, cfg.centre_sigma)
    warnings = []
    if declared and n / rate < 0.9 * declared - 0.5:
        warnings.append(f"decoded {n / rate:.2f} s of a declared {declared:.2f} s (truncated or corrupt file)")
    if n_faces > 1:
        warnings.append(f"{n_faces} face tracks seen; kept the largest, steadiest one")
    a = Analysis(path, lm, face, measured, tf.astype(np.float32), n_faces, info.width, info.height, warnings)
    a.keypoints = None if kp is None else kp.astype(np.float32)
    return a


def _fit(image: tuple[np.ndarray, float], max_side: int) -> tuple[np.ndarray, float]:
    img, s = image
    k = max_side / max(img.shape[:2])
    if k >= 1.0:
        return img, s
    return cv2.resize(img, (round(img.shape[1] * k), round(img.shape[0] * k)), interpolation=cv2.INTER_AREA), s * k


def render(
    path: str,
    a: Analysis,
    cfg: RoiConfig,
    sink: Callable[[np.ndarray], None],
    first: int = 0,
    stop: int | None = None,
    keep: bool = False,
) -> int:
    """Pass 2: warp every frame straight into its crop and hand it to ``sink``; grey crops read
    the frames the analysis kept (:class:`GrayFrameCache`) instead of decoding again
    (``gray_from="rgb"``: RGB crops, then :func:`avsr.roi.mean_face.peer_gray`). When the crop
    shrinks the face by more than 2x (large faces, 4K), frames are first reduced with area
    filtering so the crop does not alias. ``align="mean_face"`` fills outside the frame with
    black, as Auto-AVSR does (``"mesh"`` repeats the border).

    ``first`` / ``stop``: render frames ``first <= t < stop`` only (from the kept grey frames
    when there are, else decoding that time range); ``keep``: keep the grey frames for another
    range (:meth:`Analysis.close` releases them)."""
    zoom = float(np.max(np.hypot(a.transforms[:, 0, 0], a.transforms[:, 0, 1])))
    pre = min(1.0, 2.0 * zoom)
    size = cfg.out_size
    stop = a.frames if stop is None else min(stop, a.frames)
    cache = a.gray_cache
    if cache is not None and (cfg.color or not cache.usable or cache.count != a.frames):
        a.close()
        cache = None
    if cache is not None:
        frames = zip(range(first, stop), cache.read(first, stop))
    else:
        frames = a.decoded(path, first, stop)
    border = cv2.BORDER_CONSTANT if cfg.align == "mean_face" else cv2.BORDER_REPLICATE
    count = 0
    try:
        for t, image in frames:
            if t >= stop:
                break
            m = a.transforms[t].astype(np.float64)
            if cfg.color:
                img, s = (mean_face.peer_rgb if cfg.align == "mean_face" else to_rgb)(image, scale=pre)
            else:  # grey: from the luma plane, or gray_from="rgb": an RGB crop turned grey below
                img, s = (image, cache.scale) if cache is not None else gray_source(image, cfg.gray_from)
                if pre < s:
                    img = cv2.resize(
                        img, (max(2, round(a.width * pre)), max(2, round(a.height * pre))), interpolation=cv2.INTER_AREA
                    )
                    s = img.shape[1] / a.width
            if cfg.align == "box":  # the authors' crop is cut from the frame squeezed to size x size
                img = cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)
                m[:, 0] *= a.width / size
                m[:, 1] *= a.height / size
            elif s != 1.0:
                m[:, :2] /= s
            crop = cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=border)
            sink(mean_face.peer_gray(crop) if crop.ndim == 3 and not cfg.color else crop)
            count += 1
    finally:
        if not keep:
            a.close()
    if count != stop - first:
        raise MediaError(f"{path}: decoded {count} frames on the second pass, {stop - first} on the first")
    return count


def extract(
    path: str | os.PathLike,
    cfg: RoiConfig | None = None,
    audio: bool = True,
    start: float = 0.0,
    end: float | None = None,
    workers: int = 2,
    fps: float | None = FPS,
) -> RoiClip:
    """Video file -> :class:`RoiClip` with crops in memory (use :func:`avsr.roi.save.extract_to`
    to stream a long video to disk instead). ``start`` / ``end`` (seconds) take one time range:
    crop ``i`` is then the frame at ``start + i / 25`` s, and ``audio`` covers the same range.
    ``fps=None`` keeps the source frame rate (see :func:`analyse`; crops are then no longer on
    the 25 fps grid the later stages expect)."""
    cfg = cfg or RoiConfig()
    path = str(path)
    a = analyse(path, cfg, workers, start, end, fps)
    crops: list[np.ndarray] = []
    render(path, a, cfg, crops.append)
    wav = read_audio(path) if audio else None
    if wav is not None and (start or end is not None):
        wav = wav[round(start * SAMPLE_RATE) : None if end is None else round(end * SAMPLE_RATE)]
    return RoiClip(**vars(a), crops=np.stack(crops), audio=wav, config=cfg)  # gray_cache is None by now


def measure_template(path: str | os.PathLike) -> np.ndarray:  # pragma: no cover - maintenance helper
    """The mean face anchors (geometry.ANCHORS, eye-aligned) measured on a video: how the
    template in :mod:`avsr.roi.geometry` was made."""
    a = analyse(path)
    lm = a.landmarks[a.face]
    eyes = np.stack([lm[:, list(geometry.RIGHT_EYE)].mean(1), lm[:, list(geometry.LEFT_EYE)].mean(1)], 1)
    m = geometry.similarity(eyes, np.array([[-0.5, 0.0], [0.5, 0.0]]))
    return np.median(geometry.apply(m, lm[:, geometry.ANCHORS]), axis=0)
