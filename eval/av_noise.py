"""WER of Whisper (frozen, or with adapter sets) on speech mixed with noise, per category and SNR.

    python eval/av_noise.py --whisper whisper-base --speech data/audio/speech_train.jsonl data/audio/speech_test.jsonl \
        --sources data/audio/noise_sources.jsonl -o runs/eval-asr-noise
    python eval/av_noise.py --whisper whisper-tiny.en --adapters runs/av-music/adapters --sets none music \
        --speech data/audio/speech_test.jsonl --categories music -o runs/eval-music

Audio-only speech manifests (data_prep/audio.py); for LRS2/LRS3 test sets use `avsr eval asr|avsr`.
Test-split noise only; mixtures are seeded per (utterance, category, SNR): two runs give the
same numbers. Writes the run folder of `avsr eval` (avsr/evaluation/run.py): utterances.jsonl,
results.md, results.csv, wer_vs_snr.png, report.html, run.json.
"""

import argparse
import sys
from pathlib import Path

from avsr.av.model import AVWhisper
from avsr.av.whisper import load_whisper
from avsr.data.mixing import CATEGORIES
from avsr.evaluation.conditions import conditions, noise_bank, read_sources
from avsr.evaluation.decoding import read_manifest, run_whisper
from avsr.evaluation.run import write_run
from avsr.evaluation.tables import snr_grid


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--whisper", default="whisper-base")
    p.add_argument("--adapters", help="folder of adapter sets")
    p.add_argument("--sets", nargs="+", default=["none"], help="adapter sets to evaluate ('none' = frozen Whisper)")
    p.add_argument("--speech", nargs="+", required=True, help="speech manifests (JSONL: id, audio, text)")
    p.add_argument("--sources", default="data/audio/noise_sources.jsonl")
    p.add_argument("--categories", nargs="+", default=list(CATEGORIES))
    p.add_argument("--snrs", type=float, nargs="+", default=[10, 5, 0, -5])
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% interval")
    p.add_argument("-o", "--out", required=True)
    args = p.parse_args()
    model, proc = load_whisper(args.whisper)
    av = AVWhisper(model, proc, args.whisper).eval()
    for name in args.sets:
        if name != "none":
            av.load_set(Path(args.adapters) / name)
    records = [r for m in args.speech for r in read_manifest(m, need=("text", "audio"))]
    bank = noise_bank(read_sources(args.sources), args.categories, args.seed)
    conds = conditions(args.categories, args.snrs)
    lines = run_whisper(av, records, conds, args.sets, bank, batch_size=args.batch_size, progress=sys.stderr.isatty())
    info = {
        "system": "asr",
        "whisper": args.whisper,
        "manifest": " ".join(args.speech),
        "utterances": len(records),
        "noise": args.sources,
        "seed": args.seed,
        "bootstrap": args.bootstrap,
    }
    rows, _ = write_run(args.out, lines, records, info, None, ("asr",), f"asr {args.whisper}", None, args.bootstrap)
    print(snr_grid(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
