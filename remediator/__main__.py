"""`python -m remediator`: the command line."""

from __future__ import annotations

import sys

from remediator.cli.main import main

sys.exit(main())
