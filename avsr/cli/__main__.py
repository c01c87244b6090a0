"""``python -m avsr.cli``: the same as the ``avsr`` command."""

import sys

from avsr.cli import main

sys.exit(main())
