"""Compute a folder's routing table (router.yaml) from a VALIDATION run, never the test run.

    python eval/av_noise.py --adapters runs/sets --classifier runs/noise-head/final \\
        --sets none babble music noise sidespeaker routed --speech data/audio/speech_val.jsonl \\
        --sources data/audio_corpus/noise_sources_val.jsonl --snrs 10 5 0 -5 -o runs/val-routing
    python eval/router.py runs/val-routing/utterances.jsonl -o runs/sets/router.yaml
    avsr adapters runs/sets --router          # the table and the evidence behind each set

The validation run must score the frozen model (``none``), every set on every category (not
``--own-category``: a rule also takes mixtures of other categories that the head misnames), and
``routed`` (its lines carry the noise head's estimate of each mixture). A set gets a rule only
where the paired bootstrap interval of its WER minus the frozen model's, on exactly the mixtures
the rule would send it, lies below zero, and where it is clearly worse in no true condition
(avsr/evaluation/routing.py).
"""

import argparse
import sys

import yaml

from avsr.core.jsonl import read_jsonl
from avsr.data.mixing import CATEGORIES
from avsr.evaluation.routing import CUTS, MIN_CELL, derive_router, router_yaml


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("utterances", help="utterances.jsonl of the validation run")
    p.add_argument(
        "--homes",
        nargs="+",
        metavar="SET=CATEGORY",
        help="each set's noise category (default: every set in the run named after a category)",
    )
    p.add_argument("--cuts", type=float, nargs="+", default=list(CUTS), help="estimated-SNR cuts to try (dB)")
    p.add_argument("--min-cell", type=int, default=MIN_CELL, help="utterances for a true condition to be judged alone")
    p.add_argument("--bootstrap", type=int, default=1000, help="paired bootstrap resamples")
    p.add_argument("-o", "--out", required=True, help="router.yaml to write")
    args = p.parse_args()
    lines = list(read_jsonl(args.utterances))
    if args.homes:
        homes = dict(h.split("=", 1) for h in args.homes)
    else:
        homes = {s: s for s in dict.fromkeys(u["set"] for u in lines) if s in CATEGORIES}
    try:
        cfg, evidence = derive_router(lines, homes, args.cuts, args.bootstrap, min_cell=args.min_cell)
    except ValueError as e:
        print(f"eval/router.py: error: {e}", file=sys.stderr)
        return 2
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("# Derived by eval/router.py from a validation run; `avsr adapters FOLDER --router` prints it.\n")
        yaml.safe_dump(router_yaml(cfg, evidence, args.utterances), f, sort_keys=False)
    for e in evidence:
        print(e.describe())
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
