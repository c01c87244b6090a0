"""Speech + noise manifests for AVSR training and noisy evaluation (thin: the work is in
avsr.recipes.audio).

    python data_prep/audio.py --speech tests/fixtures/speech \
        --noise tests/fixtures/noise/musan_* tests/fixtures/noise/ambience_* \
        --music tests/fixtures/noise/music_* -o data/audio

MUSAN-style folders work the same way: --noise musan/noise/*/*.wav --music musan/music/*/*.wav.
"""

import argparse
import sys

from avsr.recipes.audio import prepare_audio


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--speech",
        required=True,
        help="folder of transcribed speech (NAME.txt beside NAME.wav, or *.transcription files)",
    )
    p.add_argument("--noise", nargs="+", default=[], help="noise recordings")
    p.add_argument("--music", nargs="+", default=[], help="music recordings")
    p.add_argument("--test-share", type=float, default=0.3, help="share of speakers / noise files held out for testing")
    p.add_argument("-o", "--out", required=True)
    args = p.parse_args()
    noise = {k: v for k, v in (("noise", args.noise), ("music", args.music)) if v}
    try:
        counts = prepare_audio(args.speech, noise, args.out, args.test_share)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(", ".join(f"{k}: {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
