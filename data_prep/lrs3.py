"""LRS3 -> mouth crops + manifests.  python data_prep/lrs3.py LRS3_ROOT -o OUT [--shard i/n] [-j N]"""

import sys

from common import main  # data_prep/ is on the path of a script run from it

from avsr.recipes.lrs import LRS3_SPLITS, prepare_lrs3

if __name__ == "__main__":
    sys.exit(main("LRS3", LRS3_SPLITS, prepare_lrs3))
