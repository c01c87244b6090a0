"""WER of Whisper (frozen, or with adapter sets) on speech mixed with noise, per category and SNR.

    python eval/av_noise.py --whisper whisper-base --speech data/audio/speech_train.jsonl data/audio/speech_test.jsonl \
        --sources data/audio/noise_sources.jsonl -o runs/eval-asr-noise
    python eval/av_noise.py --whisper whisper-tiny.en --adapters runs/av-music/adapters --sets none music \
        --speech data/audio/speech_test.jsonl --categories music -o runs/eval-music

The shipped sets and classifier on held-out speakers x held-out noise packages (README table):

    python eval/av_noise.py --adapters checkpoints/whisper-base/adapters \
        --classifier checkpoints/whisper-base/noise-head \
        --sets none babble music noise sidespeaker routed --own-category \
        --heldout data/audio_corpus/speech_en.jsonl --speech data/audio/speech_train.jsonl \
        data/audio/speech_test.jsonl --sources data/audio_corpus/noise_sources.jsonl \
        data/audio_corpus/talkers.jsonl --snrs 10 5 0 -5 -o runs/eval-adapters

``routed``: each mixture decoded as ``avsr transcribe`` decodes it by default, with the set the
noise classifier and router pick (``--router``, default the router.yaml that came with the sets,
else the built-in rules); ``--own-category``: a forced set runs on clean speech and on its own
category only (the frozen model and ``routed`` run everywhere). Decoding runs through the same
recogniser as ``avsr transcribe`` (engine, batching, decoding options).

Audio-only speech manifests (data_prep/audio.py); for LRS2/LRS3 test sets use `avsr eval asr|avsr`.
Test-split noise only; mixtures are seeded per (utterance, category, SNR): two runs give the
same numbers. Writes the run folder of `avsr eval` (avsr/evaluation/run.py): utterances.jsonl,
results.md, results.csv, wer_vs_snr.png, report.html, run.json.
"""

import argparse
import sys
from collections import Counter
from dataclasses import asdict

from avsr.cli.common import decoding_args, decoding_options, model_args
from avsr.data.mixing import CATEGORIES, read_sources
from avsr.evaluation.conditions import conditions, noise_bank
from avsr.evaluation.decoding import ROUTED, read_manifest, run_whisper
from avsr.evaluation.run import write_run
from avsr.evaluation.systems import load_system
from avsr.evaluation.tables import snr_grid
from avsr.recognizers.options import ModelOptions


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    model_args(p, "whisper", "adapters", "classifier", "router", "engine", "compute_type", "batch_size")
    p.add_argument("--sets", nargs="+", default=["none"], help="systems: 'none' (frozen), 'routed', set names")
    p.add_argument("--speech", nargs="+", default=[], help="speech manifests (JSONL: id, audio, text), used whole")
    p.add_argument("--heldout", nargs="+", default=[], help="speech manifests of which the 'test' split is used")
    p.add_argument("--min-seconds", type=float, default=0.0, help="skip shorter utterances (e.g. single words)")
    p.add_argument("--sources", nargs="+", default=["data/audio/noise_sources.jsonl"])
    p.add_argument("--own-category", action="store_true", help="run a forced set on clean and its own category only")
    p.add_argument("--categories", nargs="+", default=list(CATEGORIES))
    p.add_argument("--snrs", type=float, nargs="+", default=[10, 5, 0, -5])
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% interval")
    p.add_argument("--beam", type=int, default=1, help="beam size (1: greedy)")
    decoding_args(p)
    p.add_argument("-o", "--out", required=True)
    args = p.parse_args()
    opts = ModelOptions.from_args(args, decoding=decoding_options(args, args.beam))
    if ROUTED in args.sets and not (args.classifier or not args.adapters):
        p.error("the 'routed' system needs --classifier (or neither --adapters nor --classifier: the shipped ones)")
    rec, _ = load_system(opts, args.sets)
    records = [r for m in args.speech for r in read_manifest(m, need=("text", "audio"))]
    records += [r for m in args.heldout for r in read_manifest(m, need=("text", "audio")) if r.get("split") == "test"]
    records = [r for r in records if float(r.get("seconds") or 1e9) >= args.min_seconds]
    if not records:
        p.error("no utterances: give --speech and/or --heldout manifests")
    bank = noise_bank(read_sources(args.sources), args.categories, args.seed)
    conds = conditions(args.categories, args.snrs)

    def plan(cond):
        return [n for n in args.sets if n in ("none", ROUTED) or cond.category in ("clean", n)]

    lines = run_whisper(
        rec, records, conds, args.sets, bank, progress=sys.stderr.isatty(), plan=plan if args.own_category else None
    )
    info = {
        "system": "asr",
        "model": rec.names,
        "manifest": " ".join(args.speech + args.heldout),
        "utterances": len(records),
        "references": ", ".join(  # distilled references (Whisper's own clean text) said as such
            f"{k} for {n} of {len(records)} utterances"
            for k, n in sorted(Counter(r.get("reference", "exact transcript") for r in records).items())
        ),
        "noise": " ".join(args.sources),
        "seed": args.seed,
        "decoding": asdict(rec.decoding),
        "bootstrap": args.bootstrap,
    }
    rows, _ = write_run(args.out, lines, records, info, None, ("asr",), f"asr {args.whisper}", None, args.bootstrap)
    print(snr_grid(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
