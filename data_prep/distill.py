"""Self-distillation targets and distilled evaluation references for untranscribed speech (thin:
the work is in avsr.recipes.distill).

    python data_prep/distill.py data/audio_corpus/speech_untranscribed.jsonl -o data/audio_corpus \
        --whisper whisper-base --engine ct2 --splits val test      # references, one clip at a time
    python data_prep/distill.py data/audio_corpus/speech_untranscribed.jsonl -o data/audio_corpus \
        --whisper whisper-base --engine ct2 --splits train         # training windows

Split ``train`` clips: packed into 28 s windows, each transcribed once by the frozen Whisper on clean
audio -> OUT/distilled.jsonl (the window's ``target``) beside OUT/audio/distilled/*.wav; looping
windows -> OUT/distilled_rejected.jsonl. Other splits (held-out speakers): each clip transcribed
alone (greedy) -> OUT/PREFIX_val.jsonl, OUT/PREFIX_test.jsonl with ``reference: "distilled
WHISPER"``; loops, improbable text and no speech -> OUT/PREFIX_rejected.jsonl with the reason.
Resumable: a rerun continues where an interrupted one stopped.
"""

import argparse
import sys

from avsr.core.errors import AvsrError
from avsr.core.manifest import read_manifest
from avsr.recipes.distill import distill, transcribe_clips


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("manifest", nargs="+", help="JSONL of clips (id, audio, seconds[, speaker, split])")
    p.add_argument("-o", "--out", required=True, help="output folder (the audio corpus)")
    p.add_argument("--whisper", default="whisper-base", help="frozen teacher (registry name or folder)")
    p.add_argument("--engine", choices=("torch", "ct2"), default="torch", help="decoding engine (ct2: faster on CPU)")
    p.add_argument("--splits", nargs="+", default=["train", "val", "test"], help="which clips (by their split)")
    p.add_argument("--prefix", default="speech_queen", help="held-out references go to OUT/PREFIX_SPLIT.jsonl")
    p.add_argument("--window", type=float, default=28.0, help="seconds per packed window")
    p.add_argument("--max-windows", type=int, default=None, help="stop after this many windows")
    p.add_argument("--batch-size", type=int, default=4)
    a = p.parse_args()
    records = [r for m in a.manifest for r in read_manifest(m)]
    records = [r for r in records if r.get("split", "train") in a.splits]
    train = [r for r in records if r.get("split", "train") == "train"]
    held = [r for r in records if r.get("split", "train") != "train"]
    try:
        if held:
            counts = transcribe_clips(held, a.out, a.prefix, a.whisper, a.batch_size, engine=a.engine)
            print("references: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        if train:
            out = distill(train, a.out, a.whisper, a.window, max_windows=a.max_windows, batch_size=a.batch_size,
                          engine=a.engine)  # fmt: skip
            print(f"targets: {out}")
    except (AvsrError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
