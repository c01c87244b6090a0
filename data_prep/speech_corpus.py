"""Speech corpus from Debian packages: English target speech with exact text, interfering talkers,
untranscribed English dialogue (thin: the work is in avsr.recipes.speech_corpus).

    python data_prep/speech_corpus.py -o data/audio_corpus
    python data_prep/speech_corpus.py -o data/audio_corpus --only asterisk-en fillets-nl

Writes OUT/speech_en.jsonl, OUT/talkers.jsonl, OUT/speech_untranscribed.jsonl (split train / val /
test by speaker: configs/corpus/speech.yaml), 16 kHz WAVs
under OUT/audio/speech/, OUT/copyright/ and OUT/speech_summary.json; a rerun resumes.
"""

import argparse
import os
import sys

from avsr.core.configs import load_yaml
from avsr.core.errors import AvsrError
from avsr.recipes.speech_corpus import format_summary, prepare_speech_corpus

CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs", "corpus", "speech.yaml")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.add_argument("--config", default=CONFIG, help="YAML source list (default: configs/corpus/speech.yaml)")
    p.add_argument(
        "--cache", default=os.path.expanduser("~/.cache/avsr/packages"), help="downloaded and unpacked packages"
    )
    p.add_argument("--only", nargs="+", help="only these sources (config names) or packages")
    args = p.parse_args()
    try:
        summary = prepare_speech_corpus(load_yaml(args.config), args.out, args.cache, args.only)
    except (AvsrError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for name, c in summary["sources"].items():
        state = "done earlier" if c.get("resumed") else "built"
        nosplit = f", {c['excluded_speakers']} clips of speakers in no split" if c.get("excluded_speakers") else ""
        print(
            f"{name}: {c['clips']} clips, {c['seconds'] / 60:.1f} min ({state}; {c['bad']} bad files skipped{nosplit})"
        )
    print(format_summary(summary["rows"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
