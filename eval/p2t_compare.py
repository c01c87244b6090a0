"""One WER-vs-phoneme-error-rate plot of several eval/p2t_wer.py runs (the README's figure).

    python eval/p2t_compare.py -o docs/img/p2t_wer_vs_per.png \
        "H200, 4.5 min=runs/p2t-eval-gpu" "CPU, 28 min=runs/p2t-eval-cpu"

Each LLM system of a run is labelled with its run's label; the dictionary lookup (identical in
every run: same sentences, same seeded errors) is drawn once, from the first run.
"""

import argparse
import json
import re
import sys
from pathlib import Path

from avsr.evaluation.p2t import LOOKUP as BASELINE
from avsr.evaluation.p2t import plot


def short(system: str) -> str:
    """``LoRA LLM (base + lexicon hint) + ...`` -> ``LLM (lexicon hint) + ...``; no hint -> ``plain prompt``."""
    return re.sub(r"LoRA LLM \([^)+]*?(?: \+ ([^)]*))?\)", lambda m: f"LLM ({m.group(1) or 'plain prompt'})", system)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", metavar="LABEL=DIR", help="a label and an eval/p2t_wer.py output folder")
    p.add_argument("-o", "--out", required=True, help="PNG to write")
    p.add_argument("--title", default="SmolLM2-135M + LoRA, phoneme-to-text vs dictionary lookup")
    args = p.parse_args()
    rows = []
    for k, spec in enumerate(args.runs):
        label, sep, folder = spec.partition("=")
        if not sep:
            p.error(f"{spec!r}: expected LABEL=DIR")
        results = Path(folder, "results.json")
        if not results.is_file():
            p.error(f"{folder}: no results.json there (give an eval/p2t_wer.py output folder)")
        data = json.loads(results.read_text())
        for r in data["wer"] if isinstance(data, dict) else data:
            if r["system"] == BASELINE:
                if k == 0:
                    rows.append(r)
            else:
                rows.append({**r, "system": f"{short(r['system'])} [{label}]"})
    rows.sort(key=lambda r: r["system"] != BASELINE)  # the baseline first: drawn dashed
    plot(rows, args.out, args.title)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
