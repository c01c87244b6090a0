"""Our mouth crops (``configs/roi/auto_avsr.yaml``, own tracking) against Auto-AVSR's own.

    python eval/auto_avsr_crops.py [--golden tests/fixtures/auto_avsr] [-o runs/auto_avsr_crops] [--plot PNG]

For each dev clip, at the source frame rate and at 25 fps, grey and colour: mean absolute
difference to the golden crops and the mouth-centre offset, frame by frame
(``OUT/frames.csv``) and summarised (``OUT/summary.json``, printed as a table). The logic is
:mod:`avsr.evaluation.auto_avsr_crops`.
"""

import argparse
import sys
from pathlib import Path

from avsr.core.configs import build
from avsr.evaluation.auto_avsr_crops import CLIPS, plot_offsets, run
from avsr.roi import RoiConfig

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--golden", default=str(ROOT / "tests/fixtures/auto_avsr"), help="folder of the golden data")
    p.add_argument("--videos", default=str(ROOT / "tests/fixtures"), help="folder of the clips (CLIP.mp4)")
    p.add_argument("--config", default=str(ROOT / "configs/roi/auto_avsr.yaml"), help="ROI preset")
    p.add_argument("-o", "--out", default="runs/auto_avsr_crops", help="output folder")
    p.add_argument("--plot", help="also write a PNG of the per-frame mouth offset (grey runs)")
    a = p.parse_args()
    cfg = build(RoiConfig, a.config)
    rows = run({c: Path(a.videos) / f"{c}.mp4" for c in CLIPS}, a.golden, cfg, a.out)
    print("| clip | fps | crops | frames | MAD mean | MAD max | offset mean (px) | offset max | dx, dy mean |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        crops = "RGB" if r["color"] else "grey"
        print(
            f"| {r['clip']} | {r['fps']} | {crops} | {r['frames']} | {r['mad_mean']:.3f} | {r['mad_max']:.3f} "
            f"| {r['offset_mean']:.3f} | {r['offset_max']:.3f} | {r['dx_mean']:+.2f}, {r['dy_mean']:+.2f} |"
        )
    for c in CLIPS:
        exact = next(r["golden_keypoints_mad"] for r in rows if r["clip"] == c)
        print(f"{c}: peer_crops on the peer's own keypoints, RGB MAD to the golden crops {exact}")
    if a.plot:
        plot_offsets(Path(a.out) / "frames.csv", a.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
