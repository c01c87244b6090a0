"""Sparse face detection and speaker-track selection.

The mediapipe full-range face detector runs every ``detect_every`` frames. Detections are linked
into tracks by overlap, and the speaker is the track with the largest, steadiest face over the
whole clip (not whichever face was seen last). Landmarks are followed for every open track
(one in the usual single-face clip), and only the speaker's are kept, so a second face in the
picture cannot take over the crop.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from avsr.roi.config import RoiConfig


@dataclass
class Track:
    frames: list[int] = field(default_factory=list)  # frame indices of the detections
    boxes: list[np.ndarray] = field(default_factory=list)  # (cx, cy, side) in source pixels
    scores: list[float] = field(default_factory=list)

    def last(self) -> np.ndarray:
        return self.boxes[-1]

    def merit(self) -> float:
        """Largest and steadiest: summed face size, discounted by the track's mean jump between
        detections relative to its size. Short-lived or jumping tracks lose."""
        b = np.stack(self.boxes)
        size = float(b[:, 2].sum())
        if len(b) < 2:
            return size
        jumps = np.linalg.norm(np.diff(b[:, :2], axis=0), axis=1) / b[1:, 2]
        return size / (1.0 + float(np.mean(jumps)))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ax0, ay0, ax1, ay1 = a[0] - a[2] / 2, a[1] - a[2] / 2, a[0] + a[2] / 2, a[1] + a[2] / 2
    bx0, by0, bx1, by1 = b[0] - b[2] / 2, b[1] - b[2] / 2, b[0] + b[2] / 2, b[1] + b[2] / 2
    iw, ih = max(0.0, min(ax1, bx1) - max(ax0, bx0)), max(0.0, min(ay1, by1) - max(ay0, by0))
    inter = iw * ih
    return inter / (a[2] ** 2 + b[2] ** 2 - inter + 1e-9)


class FaceDetector:
    """mediapipe BlazeFace full-range detector; returns square boxes (cx, cy, side) in pixels."""

    def __init__(self, cfg: RoiConfig):
        import mediapipe as mp

        self.cfg = cfg
        self._det = mp.solutions.face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=cfg.min_detection_confidence
        )

    def __call__(self, rgb: np.ndarray, scale: float) -> list[tuple[np.ndarray, float]]:
        h, w = rgb.shape[:2]
        res = self._det.process(rgb)
        out = []
        for d in res.detections or []:
            bb = d.location_data.relative_bounding_box
            side = max(bb.width * w, bb.height * h) / scale
            cx = (bb.xmin + bb.width / 2) * w / scale
            cy = (bb.ymin + bb.height / 2) * h / scale
            if side > 1:
                out.append((np.array([cx, cy, side], np.float64), float(d.score[0])))
        return out

    def close(self) -> None:
        self._det.close()


class TrackSet:
    """Online linking of detections into tracks by overlap. A track stays open (its landmarks
    are followed) while it was detected within ``keep_open`` frames."""

    def __init__(self, keep_open: int):
        self.max_gap = keep_open
        self.tracks: list[Track] = []

    def active(self, frame: int) -> list[tuple[int, Track]]:
        return [(i, t) for i, t in enumerate(self.tracks) if frame - t.frames[-1] <= self.max_gap]

    def update(self, frame: int, found: list[tuple[np.ndarray, float]]) -> None:
        open_tracks = self.active(frame)
        pairs = sorted(
            ((_iou(t.last(), b), oi, di) for oi, (_, t) in enumerate(open_tracks) for di, (b, _) in enumerate(found)),
            reverse=True,
        )
        used_t, used_d = set(), set()
        for iou, oi, di in pairs:
            if iou < 0.2 or oi in used_t or di in used_d:
                continue
            t = open_tracks[oi][1]
            t.frames.append(frame)
            t.boxes.append(found[di][0])
            t.scores.append(found[di][1])
            used_t.add(oi)
            used_d.add(di)
        for di, (b, s) in enumerate(found):
            if di not in used_d:
                self.tracks.append(Track([frame], [b], [s]))

    def speaker(self, min_frames: int) -> int | None:
        """Index of the speaker track: the largest, steadiest face over the whole clip."""
        good = [i for i, t in enumerate(self.tracks) if len(t.frames) >= min_frames]
        return max(good, key=lambda i: self.tracks[i].merit()) if good else None
