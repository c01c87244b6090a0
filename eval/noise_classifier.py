"""Noise-classifier accuracy and SNR error on mixtures of held-out speech and held-out noise.

    python eval/noise_classifier.py --ckpt runs/noise/final --speech data/audio/speech_test.jsonl \
        --sources data/audio/noise_sources.jsonl -o runs/eval-noise

The shipped noise head (on the frozen Whisper's lower layers) on held-out speakers x held-out
packages, with the confusion matrix as a PNG:

    python eval/noise_classifier.py --ckpt checkpoints/whisper-base/noise-head \
        --heldout data/audio_corpus/speech_en.jsonl --speech data/audio/speech_train.jsonl \
        data/audio/speech_test.jsonl --sources data/audio_corpus/noise_sources.jsonl \
        data/audio_corpus/talkers.jsonl --snrs 20 10 5 0 -5 -o runs/eval-noise-head

Each utterance is scored clean and mixed with every category at every SNR (test-split noise,
seeded). Writes OUT/report.json and prints accuracy, per-class accuracy, SNR MAE.
"""

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

import avsr
from avsr.core.manifest import read_manifest
from avsr.data.mixing import CATEGORIES, read_sources
from avsr.evaluation.conditions import classifier_report, noise_bank
from avsr.evaluation.tables import plot_confusion


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ckpt", required=True)
    p.add_argument("--speech", nargs="+", default=[], help="speech manifests, used whole")
    p.add_argument("--heldout", nargs="+", default=[], help="speech manifests of which the 'test' split is used")
    p.add_argument("--min-seconds", type=float, default=1.5, help="skip shorter utterances (single words)")
    p.add_argument("--sources", nargs="+", default=["data/audio/noise_sources.jsonl"])
    p.add_argument("--snrs", type=float, nargs="+", default=[20, 10, 5, 0, -5])
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("-o", "--out", required=True)
    args = p.parse_args()
    clf = avsr.load_model(args.ckpt)
    if hasattr(clf, "attach"):  # a head on the frozen Whisper's lower layers
        from avsr.whisper.load import load_whisper

        clf.attach(load_whisper(clf.cfg.whisper)[0].eval())
    cats = tuple(c for c in clf.cfg.classes if c in CATEGORIES)
    records = [r for m in args.speech for r in read_manifest(m)]
    records += [r for m in args.heldout for r in read_manifest(m) if r.get("split") == "test"]
    records = [r for r in records if float(r.get("seconds") or 99) >= args.min_seconds]
    bank = noise_bank(read_sources(args.sources), cats, args.seed)
    rep = classifier_report(clf, records, bank, cats, tuple(args.snrs))
    os.makedirs(args.out, exist_ok=True)
    Path(args.out, "report.json").write_text(json.dumps(rep, indent=1))
    plot_confusion(
        rep["confusion"],
        rep["classes"],
        Path(args.out, "confusion.png"),
        f"{Path(args.ckpt).name}: {len(records)} held-out utterances x clean + {len(cats)} x {len(args.snrs)} SNRs",
    )
    print(
        f"accuracy {100 * rep['accuracy']:.1f}% on {rep['items']} mixtures; "
        f"SNR mean abs error {rep['snr_mae_db']:.1f} dB"
    )
    print("per class: " + ", ".join(f"{c} {100 * v:.0f}%" for c, v in rep["per_class"].items()))
    if rep.get("accuracy_snr_le_10") is not None:
        print(
            f"at SNR <= 10 dB: accuracy {100 * rep['accuracy_snr_le_10']:.1f}%, "
            f"SNR mean abs error {rep['snr_mae_db_snr_le_10']:.1f} dB (bias {rep['snr_bias_db_snr_le_10']:+.1f} dB); "
            f"{1000 * rep['seconds_per_clip']:.0f} ms per clip"
        )
    print("by SNR: " + ", ".join(f"{s:g} dB {100 * v:.0f}%" for s, v in rep["accuracy_by_snr"].items()))
    est = rep["snr_estimates"]
    print(
        "estimated SNR (median [10th-90th percentile]): "
        + ", ".join(
            f"{s:g} dB -> {np.median(v):.1f} [{np.percentile(v, 10):.1f}, {np.percentile(v, 90):.1f}]"
            for s, v in est.items()
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
