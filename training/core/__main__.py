"""``python -m training.core``: the same command line as ``python -m training`` (``training.core.cli``)."""

import sys

from training.core.cli import main

sys.exit(main())
