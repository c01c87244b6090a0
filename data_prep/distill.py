"""Self-distillation targets for untranscribed speech (thin: the work is in avsr.recipes.distill).

    python data_prep/distill.py data/audio_corpus/speech_untranscribed.jsonl -o data/audio_corpus \
        --whisper whisper-base --max-windows 120

Packs the clips into 28 s windows, transcribes each once with the frozen Whisper on clean audio
and writes OUT/distilled.jsonl (the window's ``target``) beside OUT/audio/distilled/*.wav.
Resumable: a rerun continues where an interrupted one stopped.
"""

import argparse
import sys

from avsr.core.manifest import read_manifest
from avsr.recipes.distill import distill


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("manifest", nargs="+", help="JSONL of clips (id, audio, seconds[, speaker])")
    p.add_argument("-o", "--out", required=True, help="output folder (the audio corpus)")
    p.add_argument("--whisper", default="whisper-base", help="frozen teacher (registry name or folder)")
    p.add_argument("--window", type=float, default=28.0, help="seconds per packed window")
    p.add_argument("--max-windows", type=int, default=None, help="stop after this many windows")
    p.add_argument("--batch-size", type=int, default=4)
    a = p.parse_args()
    records = [r for m in a.manifest for r in read_manifest(m)]
    out = distill(records, a.out, a.whisper, a.window, max_windows=a.max_windows, batch_size=a.batch_size)
    print(f"targets: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
