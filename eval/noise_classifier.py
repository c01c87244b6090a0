"""Noise-classifier accuracy and SNR error on mixtures of held-out speech and held-out noise.

    python eval/noise_classifier.py --ckpt runs/noise/final --speech data/audio/speech_test.jsonl \
        --sources data/audio/noise_sources.jsonl -o runs/eval-noise

Each utterance is scored clean and mixed with every category at every SNR (test-split noise,
seeded). Writes OUT/report.json and prints accuracy, per-class accuracy, SNR MAE.
"""

import argparse
import json
import os
import sys
from pathlib import Path

import avsr
from avsr.core.jsonl import read_jsonl
from avsr.data.mixing import CATEGORIES, read_sources
from avsr.evaluation.conditions import classifier_report, noise_bank


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ckpt", required=True)
    p.add_argument("--speech", nargs="+", required=True)
    p.add_argument("--sources", default="data/audio/noise_sources.jsonl")
    p.add_argument("--snrs", type=float, nargs="+", default=[20, 10, 5, 0, -5])
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("-o", "--out", required=True)
    args = p.parse_args()
    clf = avsr.load_model(args.ckpt)
    cats = tuple(c for c in clf.cfg.classes if c in CATEGORIES)
    records = [r for m in args.speech for r in read_jsonl(m)]
    bank = noise_bank(read_sources(args.sources), cats, args.seed)
    rep = classifier_report(clf, records, bank, cats, tuple(args.snrs))
    os.makedirs(args.out, exist_ok=True)
    Path(args.out, "report.json").write_text(json.dumps(rep, indent=1))
    print(
        f"accuracy {100 * rep['accuracy']:.1f}% on {rep['items']} mixtures; "
        f"SNR mean abs error {rep['snr_mae_db']:.1f} dB"
    )
    print("per class: " + ", ".join(f"{c} {100 * v:.0f}%" for c, v in rep["per_class"].items()))
    print("by SNR: " + ", ".join(f"{s:g} dB {100 * v:.0f}%" for s, v in rep["accuracy_by_snr"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
