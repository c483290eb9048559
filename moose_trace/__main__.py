"""``python -m moose_trace``: the ``moose-trace`` command, where its script is not on the PATH."""

import sys

from moose_trace.commands.main import main

sys.exit(main())
