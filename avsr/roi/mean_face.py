"""Auto-AVSR's own mouth crops: alignment to the 68-point mean face (``RoiConfig(align="mean_face")``).

The published Auto-AVSR lip-reading checkpoints (mpc001/auto_avsr, Apache-2.0) were trained on
crops made by its preparation code (``preparation/detectors/mediapipe``). This module makes the
same crops, written afresh from reading that code:

1. per frame, the 4 keypoints of mediapipe's full-range face detector: right eye, left eye,
   nose tip, mouth centre (subject's right eye first, i.e. image left), in source pixels
   truncated to whole pixels (``int(relative * side)``);
2. frames without a detection: linear interpolation between detected frames; the clip's ends
   hold the nearest detected frame (no gap is too long to fill);
3. smoothing: each frame's 4 points are averaged over up to ``WINDOW // 2`` frames either side
   (the window shrinks symmetrically at the ends of the clip), then shifted so that their
   centroid is the frame's own: shape, rotation and scale are smoothed, translation is not;
4. a similarity transform of the 4 smoothed points onto the mean face's right-eye, left-eye,
   nose and mouth centres (:data:`REFERENCE`, 256x256 frame): ``cv2.estimateAffinePartial2D``
   with LMedS (OpenCV then refines it on the inliers), bilinear warp, black border;
5. a 96x96 patch of that 256x256 frame centred on the warped (smoothed) mouth point; its
   corner is rounded half-to-even.

:func:`peer_crops` is that whole recipe as a pure function of (frames, keypoints): on the
peer's own keypoints it reproduces the peer's crops bit for bit (tests/roi/test_mean_face.py).
Where the peer would stop (mouth more than 53 px from the 256 frame's centre: it raises
``OverflowError``) or cut a short patch, we keep a full crop centred on the mouth, black where
it leaves the frame. The peer's fall-back to the short-range detector (only when the full-range
one finds no face in the whole clip) is not followed: our analysis raises ``NoFaceError`` then.
Grey crops (``gray_from="rgb"``) are those RGB crops turned grey as the models see them
(:func:`peer_gray`).
"""

from __future__ import annotations

import cv2
import numpy as np

from avsr.core.video import FAST_CONVERT_MAX_SIDE, to_rgb

WINDOW = 12  # smoothing window (frames): WINDOW // 2 either side
CROP = 96  # side of the peer's mouth patch, pixels of the 256x256 mean-face frame
CANVAS = 256  # side of the mean-face frame the face is warped into
# Right-eye (points 36-41), left-eye (42-47), nose (31-35) and mouth (48-67) means of the
# 68-point mean face 20words_mean_face.npy (256x256 frame), the alignment targets; float64
# values exactly as numpy computes them from that file (checked in the tests when it is at hand).
REFERENCE = np.array(
    [
        [102.0739430570659, 94.27230352389712],
        [156.3613054162131, 93.57815605186966],
        [129.00373787023733, 135.90343028603127],
        [129.31337322587925, 157.82299634918854],
    ]
)
MOUTH = 3  # index of the mouth-centre keypoint
# The grey the published models see (mpc001/auto_avsr @ 182b628): the peer makes RGB crops
# (VideoProcess(convert_gray=False): preparation/preprocess_lrs2lrs3.py:96-98, and the
# InferencePipeline of tutorials/inference.ipynb) and turns each crop grey at test time in
# datamodule/transforms.py:100-105 (VideoTransform "val"/"test": x / 255.0, CenterCrop(88),
# torchvision.transforms.Grayscale() on line 103): torchvision's rgb_to_grayscale on floats,
# 0.2989 R + 0.587 G + 0.114 B, unrounded (torchvision/transforms/_functional_tensor.py:160).
PEER_GRAY = np.array([0.2989, 0.587, 0.114])


def interpolate(keypoints: np.ndarray) -> np.ndarray:
    """(T, 4, 2) keypoints, NaN on frames without a detection -> (T, 4, 2) float64 with every
    frame filled: linear between detected frames, the ends hold the nearest one. Raises
    ValueError when no frame has a detection."""
    kp = np.array(keypoints, np.float64)
    idx = np.flatnonzero(~np.isnan(kp).any(axis=(1, 2)))
    if len(idx) == 0:
        raise ValueError("no frame has face keypoints")
    for a, b in zip(idx[:-1], idx[1:]):
        for i in range(1, b - a):  # same arithmetic as the peer: start + i / n * delta
            kp[a + i] = kp[a] + i / float(b - a) * (kp[b] - kp[a])
    kp[: idx[0]] = kp[idx[0]]
    kp[idx[-1] + 1 :] = kp[idx[-1]]
    return kp


def smooth(keypoints: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """(T, 4, 2) filled keypoints -> (T, 4, 2): mean over the centred window (up to
    ``window // 2`` frames either side, shrunk symmetrically at the clip's ends), moved so its
    centroid is the frame's own centroid."""
    kp = np.asarray(keypoints, np.float64)
    n = len(kp)
    out = np.empty_like(kp)
    for t in range(n):
        m = min(window // 2, t, n - 1 - t)
        s = np.mean([kp[x] for x in range(t - m, t + m + 1)], axis=0)
        s += kp[t].mean(axis=0) - s.mean(axis=0)
        out[t] = s
    return out


def canvas_transforms(keypoints: np.ndarray, window: int = WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """The peer's geometry for (T, 4, 2) keypoints (NaN = no detection): (T, 2, 3) float64
    source pixels -> 256x256 mean-face frame, and (T, 2) int64 top-left corner (x, y) of the
    96x96 mouth patch in that frame."""
    pts = smooth(interpolate(keypoints), window)
    m = np.empty((len(pts), 2, 3))
    corner = np.empty((len(pts), 2), np.int64)
    for t, p in enumerate(pts):
        est = cv2.estimateAffinePartial2D(p, REFERENCE, method=cv2.LMEDS)[0]
        if est is None:  # degenerate points (all equal): keep the previous frame's transform
            est = m[t - 1] if t else np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        m[t] = est
        mouth = p[MOUTH] @ est[:, :2].T + est[:, 2]
        corner[t] = np.round(mouth - CROP // 2).astype(np.int64)  # numpy rounds half to even, like the peer
    return m, corner


def crop_transforms(keypoints: np.ndarray, size: int = CROP, window: int = WINDOW) -> np.ndarray:
    """(T, 2, 3) float64 source pixels -> crop pixels of a ``size`` x ``size`` crop covering the
    peer's 96x96 patch (scaled by size / 96). keypoints: (T, 4, 2), NaN = no detection."""
    m, corner = canvas_transforms(keypoints, window)
    m[:, :, 2] -= corner
    return m * (size / CROP)


def peer_crops(frames, keypoints: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """Auto-AVSR's crops of ``frames`` (sequence of (H, W, 3) RGB or (H, W) grey uint8, at the
    rate the keypoints were found) from their detector keypoints (T, 4, 2) source pixels, NaN
    where none: (T, 96, 96[, 3]) uint8. Bit-exact with the peer: the frame is warped into the
    256x256 mean-face frame and the patch cut from it (a direct 96x96 warp differs by a few
    grey levels on ~0.3% of pixels: OpenCV's fixed-point coordinates depend on the origin)."""
    m, corner = canvas_transforms(keypoints, window)
    out = []
    for t, img in enumerate(frames):
        x0, y0 = corner[t]
        if 0 <= x0 <= CANVAS - CROP and 0 <= y0 <= CANVAS - CROP:
            big = _warp(img, m[t], CANVAS)
            out.append(big[y0 : y0 + CROP, x0 : x0 + CROP])
        else:  # the peer would fail here; keep a full crop on the mouth
            direct = m[t].copy()
            direct[:, 2] -= corner[t]
            out.append(_warp(img, direct, CROP))
    if len(out) != len(m):
        raise ValueError(f"{len(out)} frames for {len(m)} keypoint frames")
    return np.stack(out)


def peer_gray(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB crops -> (...) uint8 grey as Auto-AVSR's models see them
    (:data:`PEER_GRAY` weights), rounded to the nearest level: within 0.5 of the peer's float."""
    return (rgb @ PEER_GRAY).round().astype(np.uint8)


def _warp(img: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    return cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def peer_rgb(frame, scale: float = 1.0) -> tuple[np.ndarray, float]:
    """(H, W, 3) uint8 RGB of a decoded av.VideoFrame as the peer sees it (FFmpeg's own
    conversion, which torchvision.io.read_video uses; OpenCV's, in :func:`to_rgb`, differs by
    about one level) and its scale. Frames to be reduced (``scale`` < 1) or larger than
    FAST_CONVERT_MAX_SIDE go through :func:`to_rgb` instead."""
    if scale >= 1.0 and max(frame.width, frame.height) <= FAST_CONVERT_MAX_SIDE:
        return frame.to_ndarray(format="rgb24"), 1.0
    return to_rgb(frame, max_side=FAST_CONVERT_MAX_SIDE, scale=scale)


class KeypointDetector:
    """mediapipe's full-range face detector, as the peer runs it on every frame."""

    def __init__(self, min_detection_confidence: float = 0.5):
        import mediapipe as mp

        self._det = mp.solutions.face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=min_detection_confidence
        )

    def __call__(self, rgb: np.ndarray, scale: float = 1.0) -> list[np.ndarray]:
        """Every face in an (H, W, 3) uint8 RGB frame shown at ``scale`` (its pixels per source
        pixel): (4, 2) float64 keypoints each, source pixels truncated toward zero as the peer
        does (``int(relative * side)``; exact when ``scale`` is 1)."""
        h, w = rgb.shape[:2]
        res = self._det.process(rgb)
        out = []
        for d in res.detections or []:
            k = d.location_data.relative_keypoints
            out.append(np.trunc(np.array([[k[i].x * w, k[i].y * h] for i in range(4)]) / scale))
        return out

    def close(self) -> None:
        self._det.close()


def speaker_keypoints(found: list[list[np.ndarray]], landmarks: np.ndarray) -> np.ndarray:
    """Per frame, the detection that belongs to the speaker: (T, 4, 2), NaN where none does.
    ``found``: each frame's detections (from :class:`KeypointDetector`); ``landmarks``:
    (T, 468, 2) the speaker's filled FaceMesh landmarks. A detection belongs to the speaker
    when its keypoint centroid is the nearest one to the landmarks' centre and within a
    quarter of the landmarks' extent of it (other faces in the picture are left out)."""
    out = np.full((len(found), 4, 2), np.nan)
    for t, dets in enumerate(found):
        lm = landmarks[t]
        if not dets or np.isnan(lm).any():
            continue
        lo, hi = lm.min(0), lm.max(0)
        dist = [float(np.linalg.norm(d.mean(0) - (lo + hi) / 2)) for d in dets]
        best = int(np.argmin(dist))
        if dist[best] < 0.25 * float(np.max(hi - lo)):
            out[t] = dets[best]
    return out
