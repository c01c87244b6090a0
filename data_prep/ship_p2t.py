"""Make the shipped phoneme-to-text folder from a trained adapter and a tuned evaluation run:
LoRA weights in float16, the lookup's and the bigram's counts, and the decoding settings of one
system of the run's tuning.json; prints each file's sha256 for checkpoints/registry.yaml.

    python data_prep/ship_p2t.py runs/p2t-smollm2-shipped/adapter checkpoints/p2t/smollm2-135m-lexicon \
        --tuning runs/p2t-eval-shipped/tuning.json --system "phoneme rescoring + hybrids + word bigram"

An adapter trained before `avsr train p2t` wrote bigram counts gets them from --corpus.
"""

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from avsr.core.errors import AvsrError
from avsr.core.files import sha256
from avsr.core.jsonl import read_jsonl
from avsr.evaluation.p2t_run import OPTIONS
from avsr.p2t.bigram import BIGRAM_COUNTS, BigramLM
from avsr.p2t.load import export_adapter
from avsr.p2t.rescore import DecodingConfig


def decoding_of(tuning: dict, system: str) -> DecodingConfig:
    """The DecodingConfig of a system of a tuning.json: the run's settings, with the options that
    system did not use switched off, and its tuned weights."""
    from avsr.core.configs import from_dict

    if system not in tuning["systems"]:
        raise SystemExit(f"--system {system!r}: the run tuned {sorted(tuning['systems'])}")
    sources = set(tuning["systems"][system]["sources"])
    run = from_dict(DecodingConfig, tuning["decoding"])
    off = {"hybrids": False, "bigram": False, "lattice": 0}
    off = {flag: off[flag] for _, add, flag in OPTIONS if flag and not set(add) <= sources}
    return replace(run, **off, **tuning["systems"][system]["chosen"])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("adapter", help="the trained adapter folder (OUTPUT/adapter of avsr train p2t)")
    p.add_argument("out", help="the folder to write")
    p.add_argument("--tuning", required=True, help="tuning.json of an eval/p2t_wer.py --tune run of this adapter")
    p.add_argument("--system", required=True, help="the rescoring system of that run whose settings ship")
    p.add_argument("--corpus", default="data/corpus/train.jsonl", help="bigram counts, if the adapter has none")
    args = p.parse_args()
    try:
        decoding = decoding_of(json.loads(Path(args.tuning).read_text()), args.system)
        files = export_adapter(args.adapter, args.out, decoding)
        if not (Path(args.out) / BIGRAM_COUNTS).is_file():
            BigramLM.from_records(read_jsonl(args.corpus)).save(Path(args.out) / BIGRAM_COUNTS)
            files = sorted(f for f in Path(args.out).iterdir() if f.is_file())
    except (AvsrError, OSError) as e:
        print(f"ship_p2t: error: {e}", file=sys.stderr)
        return 2
    print(decoding.describe())
    for f in files:
        print(f"    - {{local: {f.as_posix()}, sha256: {sha256(f)}}}  # {f.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
