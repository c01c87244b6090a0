"""QA montage: crops over time with the landmarks drawn, to check a clip at a glance."""

from __future__ import annotations

import os

import cv2
import numpy as np

from avsr.core.files import atomic_path
from avsr.core.media import FPS
from avsr.roi import geometry

TILE = 128  # tile side in the montage (pixels)
COLUMNS = 8


def montage(
    crops: dict[int, np.ndarray], landmarks: np.ndarray, face: np.ndarray, transforms: np.ndarray, title: str
) -> np.ndarray:
    """BGR image: one tile per sampled frame (``crops`` maps frame index -> crop), lips in green,
    alignment anchors in blue; "interpolated" where FaceMesh did not run (landmark stride) or
    missed briefly, a red frame and "no face" where there was no face."""
    tiles = []
    for t, crop in sorted(crops.items()):
        img = crop if crop.ndim == 3 else cv2.cvtColor(crop, cv2.COLOR_GRAY2RGB)
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        k = TILE / img.shape[0]
        img = cv2.resize(img, (TILE, TILE), interpolation=cv2.INTER_LINEAR)
        if not np.isnan(landmarks[t, 0, 0]):
            pts = geometry.apply(transforms[t].astype(np.float64), landmarks[t].astype(np.float64)) * k
            for idx, colour in (
                (geometry.OUTER_LIPS + geometry.INNER_LIPS, (0, 220, 0)),
                (geometry.ANCHORS, (255, 128, 0)),
            ):
                for x, y in pts[list(idx)]:
                    cv2.circle(img, (int(round(x)), int(round(y))), 1, colour, -1, cv2.LINE_AA)
        if face[t] and np.isnan(landmarks[t, 0, 0]):
            cv2.putText(
                img, "interpolated", (4, TILE - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 220, 255), 1, cv2.LINE_AA
            )
        if not face[t]:
            cv2.rectangle(img, (0, 0), (TILE - 1, TILE - 1), (0, 0, 255), 3)
            cv2.putText(img, "no face", (4, TILE - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 255), 1, cv2.LINE_AA)
        cv2.putText(
            img, f"{t} {t / FPS:.2f}s", (4, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1, cv2.LINE_AA
        )
        tiles.append(img)
    rows = []
    for i in range(0, len(tiles), COLUMNS):
        row = tiles[i : i + COLUMNS]
        row += [np.zeros_like(tiles[0])] * (COLUMNS - len(row))
        rows.append(np.concatenate(row, 1))
    grid = np.concatenate(rows, 0)
    head = np.full((22, grid.shape[1], 3), 32, np.uint8)
    cv2.putText(head, title[:120], (4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return np.concatenate([head, grid], 0)


def sample_frames(n: int, count: int) -> list[int]:
    """``count`` frame indices spread evenly over a clip of ``n`` frames."""
    return sorted(set(np.linspace(0, n - 1, min(n, count)).round().astype(int).tolist()))


def write_png(path: str | os.PathLike, image: np.ndarray) -> None:
    with atomic_path(path) as tmp:  # the temporary name keeps the .png suffix cv2 needs
        if not cv2.imwrite(str(tmp), image):
            raise OSError(f"could not write {path}")
