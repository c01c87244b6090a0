"""WER vs phoneme error rate: the LoRA phoneme-to-text LLM beside dictionary lookup.

    python eval/p2t_wer.py --adapter runs/p2t-smollm2/adapter [--sentences 200] [--tune 200] -o runs/p2t-eval

Scores the first ``--sentences`` held-out sentences at each simulated phoneme error rate with
dictionary lookup, a word-bigram LM over the lexicon's candidates (avsr/evaluation/bigram.py;
``--adapter`` left out: these two alone), the LLM's own (greedy) sentence and, when the adapter has decoding settings
(or ``--tune``), the LLM with phoneme-consistency rescoring (avsr/p2t/rescore.py). ``--tune N``
first picks the rescoring weights on the N held-out sentences after the scored ones (disjoint
from them), over every error rate, for each rescoring system (the options switched on, added
one at a time, all scored from one set of candidates), and writes the last one's (every option)
to ADAPTER/decoding.json. The run itself is
:func:`avsr.evaluation.p2t_run.run_p2t_eval`; its docstring lists what OUT holds.
"""

import argparse
import sys

from avsr.core.errors import AvsrError
from avsr.evaluation.p2t_run import RATES, P2TRunConfig, run_p2t_eval


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--adapter", help="phoneme-to-text adapter folder (omit for the baseline alone)")
    p.add_argument("--corpus", default="data/corpus", help="folder with train.jsonl (word counts) and heldout.jsonl")
    p.add_argument(
        "--heldout",
        help="sentences to score instead of CORPUS/heldout.jsonl: any JSONL with id and text "
        "(e.g. another source's transcripts)",
    )
    p.add_argument("--sentences", type=int, default=200, help="held-out sentences to score (the first N)")
    p.add_argument("--rates", type=float, nargs="+", default=list(RATES))
    p.add_argument(
        "--tune",
        type=int,
        default=0,
        metavar="N",
        help="tune the rescoring weight on the next N held-out sentences and save it in the adapter "
        "(and the bigram baseline's channel weight, written to OUT/bigram_tuning.json)",
    )
    p.add_argument(
        "--beams",
        type=int,
        help="LLM candidates per input for rescoring (default: the adapter's decoding.json, else 1)",
    )
    p.add_argument(
        "--hybrids",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="rescoring candidates include word-level mixtures of the LLM's sentence and the lookup's reading "
        "(default: the adapter's decoding.json)",
    )
    p.add_argument(
        "--bigram",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="rescoring candidates include the word-bigram decoder's reading (and, with --hybrids, its mixtures "
        "with the LLM's sentence); needs the adapter's bigram_counts.tsv.gz (default: the adapter's decoding.json)",
    )
    p.add_argument(
        "--prior",
        action="store_true",
        help="score every candidate with the LM prior too (log P(text) without the phonemes), its weight tuned with "
        "the others (a word lattice implies it)",
    )
    p.add_argument(
        "--no-boundaries",
        action="store_true",
        help="remove every word boundary from the inputs (phonemes as the VALLR model emits them): the bigram "
        "search places them for the lookup and the LLM",
    )
    p.add_argument(
        "--lattice",
        type=int,
        metavar="BEAM",
        help="rescoring candidates include the best sentences of a word-lattice search with this beam "
        "(0: none; default: the adapter's decoding.json)",
    )
    p.add_argument(
        "--lattice-words",
        type=int,
        help="spellings per phoneme word in the lattice (default: the adapter's decoding.json, else 6)",
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="cpu", help="where the LLM runs (cpu, cuda)")
    p.add_argument("-o", "--out", required=True)
    args = p.parse_args()
    cfg = P2TRunConfig(
        adapter=args.adapter,
        corpus=args.corpus,
        sentences=args.sentences,
        rates=tuple(args.rates),
        tune=args.tune,
        beams=args.beams,
        hybrids=args.hybrids,
        bigram=args.bigram,
        prior=args.prior or None,
        lattice=args.lattice,
        lattice_words=args.lattice_words,
        batch_size=args.batch_size,
        device=args.device,
        boundaries=not args.no_boundaries,
        heldout=args.heldout,
    )
    try:
        print(run_p2t_eval(cfg, args.out))
    except AvsrError as e:
        print(f"p2t_wer: error: {e}", file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
