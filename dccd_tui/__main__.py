"""`python -m dccd_tui` is the same as the `dccd-tui` command."""

import sys

from .cli import main

sys.exit(main())
