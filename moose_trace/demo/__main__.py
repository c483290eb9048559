"""``python -m moose_trace.demo``: the same as ``moose-trace demo``."""

from __future__ import annotations

import sys

from moose_trace.commands.demo import main

sys.exit(main())
