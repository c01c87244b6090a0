"""WER vs phoneme error rate: the LoRA phoneme-to-text LLM beside dictionary lookup.

    python eval/p2t_wer.py --adapter runs/p2t-smollm2/adapter [--sentences 200] [--tune 200] -o runs/p2t-eval

Scores the first ``--sentences`` held-out sentences at each simulated phoneme error rate with
dictionary lookup, the LLM's own (greedy) sentence and, when the adapter has decoding settings
(or ``--tune``), the LLM with phoneme-consistency rescoring (avsr/p2t/rescore.py). ``--tune N``
first picks the rescoring weight on the N held-out sentences after the scored ones (disjoint
from them), over every error rate, and writes it to ADAPTER/decoding.json.

Writes OUT/results.json, OUT/results.md (WER table, and each LLM system's difference to the
lookup with a paired-bootstrap 95% interval), OUT/utterances.jsonl (every sentence's noisy
phonemes and each system's hypothesis), OUT/wer_vs_per.png and, with --tune, OUT/tuning.json.
"""
import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from avsr.core.jsonl import read_jsonl
from avsr.evaluation.p2t import LOOKUP, differences, differences_table, markdown_table, noisy_inputs, plot, wer_vs_per
from avsr.p2t.lexicon import DictionaryDecoder
from avsr.train.p2t import with_phonemes


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--adapter", help="phoneme-to-text adapter folder (omit for the baseline alone)")
    p.add_argument("--corpus", default="data/corpus", help="folder with train.jsonl (word counts) and heldout.jsonl")
    p.add_argument("--sentences", type=int, default=200, help="held-out sentences to score (the first N)")
    p.add_argument("--rates", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.3])
    p.add_argument("--tune", type=int, default=0, metavar="N", help="tune the rescoring weight on the next N held-out sentences and save it in the adapter")
    p.add_argument("--beams", type=int, help="LLM candidates per input for rescoring (default: the adapter's decoding.json, else 1)")
    p.add_argument("--hybrids", action=argparse.BooleanOptionalAction, default=None,
                   help="rescoring candidates include word-level mixtures of the LLM's sentence and the lookup's reading (default: the adapter's decoding.json)")
    p.add_argument("--lattice", type=int, metavar="BEAM",
                   help="rescoring candidates include the best sentences of a word-lattice search with this beam (0: none; default: the adapter's decoding.json)")
    p.add_argument("--lattice-words", type=int, help="spellings per phoneme word in the lattice (default: the adapter's decoding.json, else 6)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="cpu", help="where the LLM runs (cpu, cuda)")
    p.add_argument("-o", "--out", required=True)
    args = p.parse_args()
    train = list(read_jsonl(Path(args.corpus) / "train.jsonl"))
    heldout = list(read_jsonl(Path(args.corpus) / "heldout.jsonl"))
    held = with_phonemes(heldout[: args.sentences])
    lexicon = DictionaryDecoder.from_corpus(train)
    decoders = {LOOKUP: lambda batch: [lexicon(ph) for ph in batch]}
    os.makedirs(args.out, exist_ok=True)
    if args.adapter:
        from avsr.p2t.model import load_p2t
        from avsr.p2t.rescore import tune_channel_weight, tune_weights

        p2t = load_p2t(args.adapter, merge=True, device=args.device)  # LoRA merged into the weights: the same model, faster
        if args.beams:
            p2t.decoding = replace(p2t.decoding, beams=args.beams)
        if args.hybrids is not None:
            p2t.decoding = replace(p2t.decoding, hybrids=args.hybrids)
        if args.lattice is not None:
            p2t.decoding = replace(p2t.decoding, lattice=args.lattice)
        if args.lattice_words is not None:
            p2t.decoding = replace(p2t.decoding, lattice_words=args.lattice_words)
        cache: dict = {}

        def candidates(batch):
            key = tuple(map(tuple, batch))
            if key not in cache:
                cache.clear()  # one error rate at a time: every system decodes the same inputs
                cache[key] = [c for s in progress(range(0, len(batch), args.batch_size), "LLM candidates")
                              for c in p2t.candidates(batch[s : s + args.batch_size], args.batch_size)]
            return cache[key]

        if args.tune:
            dev = with_phonemes(heldout[args.sentences : args.sentences + args.tune])
            if not dev:
                raise SystemExit(f"--tune {args.tune}: no held-out sentences after the first {args.sentences}")
            cands, refs = [], []
            for rate in args.rates:
                cands += candidates(noisy_inputs(dev, rate))
                refs += [r["text"] for r in dev]
            tuned = f"{len(dev)} held-out sentences {args.sentences}..{args.sentences + len(dev) - 1} of {args.corpus}, error rates {args.rates}"
            if p2t.decoding.uses_prior:  # direct, prior and channel weights together
                chosen, wers = tune_weights(cands, refs)
                table = {",".join(f"{x:g}" for x in k): v for k, v in wers.items()}
                print(f"rescoring weights (direct, prior, channel) -> best dev WER {100 * min(wers.values()):.1f}%; chosen {chosen}")
            else:
                weight, wers = tune_channel_weight(cands, refs)
                chosen, table = {"channel_weight": weight}, {f"{k:g}": v for k, v in wers.items()}
                print("rescoring weight (nats per phoneme edit) -> dev WER: " + ", ".join(f"{k:g}: {100 * v:.1f}%" for k, v in wers.items()) + f"; chosen {weight:g}")
            p2t.decoding = replace(p2t.decoding, rescore=True, tuned_on=tuned, **chosen)
            p2t.decoding.save(args.adapter)
            Path(args.out, "tuning.json").write_text(json.dumps({"chosen": chosen, "wer_by_weights": table, "tuned_on": tuned}, indent=1))
        name = f"LoRA LLM ({p2t.cfg.base}{' + lexicon hint' if p2t.cfg.hint == 'lexicon' else ''})"
        if p2t.decoding.rescore:  # one set of candidates per input serves both systems
            decoders[name] = lambda batch: [c.texts[0] for c in candidates(batch)]
            what = [x for x, on in (("LLM/lookup hybrids", p2t.decoding.hybrids), ("word lattice", p2t.decoding.lattice)) if on]
            decoders[f"{name} + phoneme rescoring" + (" of " + " + ".join(what) if what else "")] = lambda batch: [c.choose(p2t.decoding) for c in candidates(batch)]
        else:  # greedy only: no candidate scoring
            decoders[name] = lambda batch: [t for s in progress(range(0, len(batch), args.batch_size), "LLM")
                                            for t in p2t(batch[s : s + args.batch_size], args.batch_size)]
    rows = wer_vs_per(held, decoders, tuple(args.rates))
    diffs = differences(rows, LOOKUP)
    with open(Path(args.out, "utterances.jsonl"), "w", encoding="utf-8") as f:
        for r in rows:
            for u in r.pop("utterances"):
                f.write(json.dumps({"system": r["system"], "error_rate": r["error_rate"], **u}) + "\n")
    Path(args.out, "results.json").write_text(json.dumps({"wer": rows, "differences": diffs}, indent=1))
    table = markdown_table(rows) + ("\n\n" + differences_table(diffs) if diffs else "")
    Path(args.out, "results.md").write_text(table + "\n")
    plot(rows, Path(args.out, "wer_vs_per.png"))
    print(table)
    return 0


def progress(it, desc):
    from tqdm import tqdm

    return tqdm(it, desc=desc, disable=not sys.stderr.isatty())


if __name__ == "__main__":
    sys.exit(main())
