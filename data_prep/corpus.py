"""Sentence corpus for phoneme-to-text training: Debian `fortunes` -> train / held-out JSONL
(split by document), each line {id, doc, text, phonemes}.

    python data_prep/corpus.py -o data/corpus [--heldout 0.05]
"""

import argparse
import sys

from avsr.core.jsonl import write_jsonl
from avsr.data.crops import with_phonemes
from avsr.recipes.text import FORTUNES_DIR, CorpusError, build_corpus


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-o", "--out", required=True)
    p.add_argument("--source", default=FORTUNES_DIR)
    p.add_argument("--heldout", type=float, default=0.05)
    args = p.parse_args()
    try:
        corpus = build_corpus(args.source, args.heldout)
    except CorpusError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for split, recs in corpus.items():
        recs = [{**r, "phonemes": " ".join(r2["phonemes"])} for r, r2 in zip(recs, with_phonemes(recs))]
        n = write_jsonl(f"{args.out}/{split}.jsonl", recs)
        print(f"{split}: {n} sentences from {len({r['doc'] for r in recs})} documents -> {args.out}/{split}.jsonl")
    return 0


if __name__ == "__main__":
    sys.exit(main())
