"""WER of Whisper (frozen, or with adapter sets) on speech mixed with noise, per category and SNR.

    python eval/av_noise.py --whisper whisper-base --speech data/audio/speech_train.jsonl data/audio/speech_test.jsonl \
        --sources data/audio/noise_sources.jsonl -o runs/eval-asr-noise
    python eval/av_noise.py --whisper whisper-tiny.en --adapters runs/av-music/adapters --sets none music \
        --speech data/audio/speech_test.jsonl --categories music -o runs/eval-music

Test-split noise only; mixtures are seeded per (utterance, category, SNR): two runs give the
same numbers. Writes OUT/results.json, OUT/results.md and OUT/wer_vs_snr.png.
"""
import argparse
import json
import os
import sys
from pathlib import Path

from avsr.av.evaluate import noisy_wer, plot_wer, wer_table
from avsr.av.model import AVWhisper
from avsr.av.whisper import load_whisper
from avsr.data.manifest import read_jsonl
from avsr.data.noise import CATEGORIES, NoiseBank, NoiseConfig


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--whisper", default="whisper-base")
    p.add_argument("--adapters", help="folder of adapter sets")
    p.add_argument("--sets", nargs="+", default=["none"], help="adapter sets to evaluate ('none' = frozen Whisper)")
    p.add_argument("--speech", nargs="+", required=True, help="speech manifests (JSONL: id, audio, text)")
    p.add_argument("--sources", default="data/audio/noise_sources.jsonl")
    p.add_argument("--categories", nargs="+", default=list(CATEGORIES))
    p.add_argument("--snrs", type=float, nargs="+", default=[10, 5, 0, -5])
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("-o", "--out", required=True)
    args = p.parse_args()
    model, proc = load_whisper(args.whisper)
    av = AVWhisper(model, proc, args.whisper).eval()
    for name in args.sets:
        if name != "none":
            av.load_set(Path(args.adapters) / name)
    records = [r for m in args.speech for r in read_jsonl(m)]
    bank = NoiseBank(list(read_jsonl(args.sources)), NoiseConfig(categories=tuple(args.categories), split="test", seed=args.seed))
    rows = noisy_wer(av, records, bank, tuple(args.categories), tuple(args.snrs), tuple(args.sets), args.batch_size, progress=sys.stderr.isatty())
    os.makedirs(args.out, exist_ok=True)
    Path(args.out, "results.json").write_text(json.dumps({"whisper": args.whisper, "utterances": len(records), "seed": args.seed, "rows": rows}, indent=1))
    table = wer_table(rows)
    Path(args.out, "results.md").write_text(table + "\n")
    plot_wer(rows, Path(args.out, "wer_vs_snr.png"), f"{args.whisper}: WER vs SNR ({len(records)} utterances, test-split noise)")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
