"""``python -m training`` (and ``torchrun ... -m training``): runs ``training.core.cli.main``; imports no Django."""

import sys

from training.core.cli import main

sys.exit(main())
