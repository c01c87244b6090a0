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

``routed``: each mixture decoded with the set the noise classifier and router pick (``--router``,
default the router.yaml that came with the sets, else the built-in rules); ``--own-category``: a
forced set runs on clean speech and on its own category only (the frozen model and ``routed`` run everywhere).

Audio-only speech manifests (data_prep/audio.py); for LRS2/LRS3 test sets use `avsr eval asr|avsr`.
Test-split noise only; mixtures are seeded per (utterance, category, SNR): two runs give the
same numbers. Writes the run folder of `avsr eval` (avsr/evaluation/run.py): utterances.jsonl,
results.md, results.csv, wer_vs_snr.png, report.html, run.json.
"""

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

from avsr.adapters.sets import list_sets
from avsr.adapters.torch_bank import AVWhisper
from avsr.cli.common import decoding_args, decoding_options
from avsr.data.mixing import CATEGORIES, read_sources
from avsr.evaluation.conditions import conditions, noise_bank
from avsr.evaluation.decoding import ROUTED, read_manifest, run_whisper
from avsr.evaluation.run import write_run
from avsr.evaluation.tables import snr_grid
from avsr.noise.router import RouterConfig, sets_router
from avsr.recognizers.audiovisual import AVRecognizer
from avsr.recognizers.checkpoints import load_checkpoint
from avsr.whisper.load import load_whisper


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--whisper", default="whisper-base")
    p.add_argument("--adapters", help="folder of adapter sets")
    p.add_argument("--sets", nargs="+", default=["none"], help="adapter sets to evaluate ('none' = frozen Whisper)")
    p.add_argument("--speech", nargs="+", default=[], help="speech manifests (JSONL: id, audio, text), used whole")
    p.add_argument("--heldout", nargs="+", default=[], help="speech manifests of which the 'test' split is used")
    p.add_argument("--min-seconds", type=float, default=0.0, help="skip shorter utterances (e.g. single words)")
    p.add_argument("--sources", nargs="+", default=["data/audio/noise_sources.jsonl"])
    p.add_argument("--classifier", help="noise classifier checkpoint (for the 'routed' system)")
    p.add_argument("--router", help="router YAML (default: the adapters folder's router.yaml, else the built-in rules)")
    p.add_argument("--own-category", action="store_true", help="run a forced set on clean and its own category only")
    p.add_argument("--categories", nargs="+", default=list(CATEGORIES))
    p.add_argument("--snrs", type=float, nargs="+", default=[10, 5, 0, -5])
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% interval")
    p.add_argument("--beam", type=int, default=1, help="beam size (1: greedy)")
    decoding_args(p)
    p.add_argument("-o", "--out", required=True)
    args = p.parse_args()
    decoding = decoding_options(args, args.beam)
    model, proc = load_whisper(args.whisper)
    av = AVWhisper(model, proc, args.whisper).eval()
    wanted = [n for n in args.sets if n not in ("none", ROUTED)]
    if ROUTED in args.sets and args.adapters:  # the router chooses among every set in the folder
        wanted = sorted(set(wanted) | {n for n, _ in list_sets(args.adapters)})
    for name in wanted:
        av.load_set(Path(args.adapters) / name)
    choose = router = None
    if ROUTED in args.sets:
        if not args.classifier:
            p.error("the 'routed' system needs --classifier")
        router = args.router or sets_router(args.adapters)
        rec = AVRecognizer(
            av, load_checkpoint(args.classifier), RouterConfig.from_yaml(router) if router else RouterConfig()
        )
        choose = rec.route
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
        av,
        records,
        conds,
        args.sets,
        bank,
        batch_size=args.batch_size,
        progress=sys.stderr.isatty(),
        choose=choose,
        plan=plan if args.own_category else None,
        decoding=decoding,
    )
    info = {
        "system": "asr",
        "whisper": args.whisper,
        "manifest": " ".join(args.speech),
        "utterances": len(records),
        "noise": " ".join(args.sources),
        "classifier": args.classifier,
        "router": str(router) if router else None,
        "seed": args.seed,
        "decoding": asdict(decoding),
        "bootstrap": args.bootstrap,
    }
    rows, _ = write_run(args.out, lines, records, info, None, ("asr",), f"asr {args.whisper}", None, args.bootstrap)
    print(snr_grid(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
