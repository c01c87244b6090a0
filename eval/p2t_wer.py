"""WER vs phoneme error rate: the LoRA phoneme-to-text LLM beside dictionary lookup.

    python eval/p2t_wer.py --adapter runs/p2t-smollm2/adapter [--sentences 200] -o runs/p2t-eval

Writes OUT/results.json, OUT/results.md (table) and OUT/wer_vs_per.png.
"""
import argparse
import json
import os
import sys
from pathlib import Path

from avsr.data.manifest import read_jsonl
from avsr.p2t.evaluate import markdown_table, plot, wer_vs_per
from avsr.p2t.lexicon import DictionaryDecoder
from avsr.train.p2t import with_phonemes


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--adapter", help="phoneme-to-text adapter folder (omit for the baseline alone)")
    p.add_argument("--corpus", default="data/corpus", help="folder with train.jsonl (word counts) and heldout.jsonl")
    p.add_argument("--sentences", type=int, default=200, help="held-out sentences to score (the first N)")
    p.add_argument("--rates", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.3])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("-o", "--out", required=True)
    args = p.parse_args()
    train = list(read_jsonl(Path(args.corpus) / "train.jsonl"))
    held = with_phonemes(list(read_jsonl(Path(args.corpus) / "heldout.jsonl"))[: args.sentences])
    lexicon = DictionaryDecoder.from_corpus(train)
    decoders = {"dictionary lookup": lambda batch: [lexicon(ph) for ph in batch]}
    if args.adapter:
        from tqdm import tqdm

        from avsr.p2t.model import load_p2t

        p2t = load_p2t(args.adapter)

        def llm(batch):
            out = []
            for s in tqdm(range(0, len(batch), args.batch_size), desc="LLM", disable=not sys.stderr.isatty()):
                out += p2t(batch[s : s + args.batch_size], args.batch_size)
            return out

        hint = " + lexicon hint" if p2t.cfg.hint == "lexicon" else ""
        decoders[f"LoRA LLM ({p2t.cfg.base}{hint})"] = llm
    rows = wer_vs_per(held, decoders, tuple(args.rates))
    os.makedirs(args.out, exist_ok=True)
    Path(args.out, "results.json").write_text(json.dumps(rows, indent=1))
    table = markdown_table(rows)
    Path(args.out, "results.md").write_text(table + "\n")
    plot(rows, Path(args.out, "wer_vs_per.png"))
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
