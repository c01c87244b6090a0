"""How close is the out-of-vocabulary G2P fallback (espeak-ng) to the CMU dictionary?

    python bench/g2p.py [--words 300] [--seed 0]

Takes random alphabetic dictionary words, asks espeak-ng for them as if they were unknown,
and prints the phoneme error rate against the dictionary's pronunciations.
"""

import argparse
import random

from avsr.core.metrics import error_rate
from avsr.text.g2p import _espeak, cmu_dict


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--words", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    d = cmu_dict()
    random.seed(args.seed)
    words = random.sample([w for w in d if w.isalpha()], args.words)
    per = error_rate([d[w] for w in words], _espeak(words))
    print(
        f"espeak-ng vs CMU dictionary on {args.words} random dictionary words (seed {args.seed}): PER {100 * per:.1f}%"
    )


if __name__ == "__main__":
    main()
