"""LRS2 -> mouth crops + manifests.  python data_prep/lrs2.py LRS2_ROOT -o OUT [--shard i/n] [-j N]"""

import sys

from common import main  # data_prep/ is on the path of a script run from it

from avsr.recipes.lrs import LRS2_SPLITS, prepare_lrs2

if __name__ == "__main__":
    sys.exit(main("LRS2", LRS2_SPLITS, prepare_lrs2))
