"""Leave-one-package-out accuracy of a noise-head configuration: the model-selection metric.

    python eval/noise_head_lopo.py configs/noise/head.yaml
    python eval/noise_head_lopo.py configs/noise/head.yaml data.channel_prob=0.5 data.rirs=[../shared/data/rir/rir1.wav]

For each train noise package, a head trained without it is scored on the train mixtures that
hold it (true SNR <= 10 dB); the mean over packages is printed and written to
OUTPUT/lopo.json. It uses the train split only, so configurations can be compared on it without
looking at the held-out test packages (avsr/train/noise_lopo.py).
"""

import argparse
import json
import sys
from pathlib import Path

from avsr.core.configs import build
from avsr.train.noise_head import NoiseHeadTrainConfig
from avsr.train.noise_lopo import lopo_for_config


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("config", help="noise-head config YAML (configs/noise/head.yaml)")
    p.add_argument("overrides", nargs="*", help="KEY=VALUE overrides, as for avsr train")
    args = p.parse_args()
    cfg = build(NoiseHeadTrainConfig, args.config, args.overrides)
    res = lopo_for_config(cfg)
    for pkg, f in sorted(res["folds"].items(), key=lambda kv: kv[1]["accuracy"]):
        acc, mae = 100 * f["accuracy"], f["snr_mae"]
        print(f"{pkg:<32} accuracy {acc:5.1f}%  SNR error {mae:4.1f} dB  ({f['examples']} mixtures)")
    m = res["mean"]
    print(f"leave-one-package-out mean: accuracy {100 * m['accuracy']:.1f}%, SNR error {m['snr_mae']:.2f} dB")
    out = Path(cfg.output) / "lopo.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res | {"overrides": args.overrides}, indent=1))
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
