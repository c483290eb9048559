"""Results for people: one event's line (``event_text``) and the summaries (``summary_text``).

The names of both, in one place, as they were before the two were apart; the package's own
modules import each from its home (a ``--trace`` start-up loads no summary code).
"""

from __future__ import annotations

from moose_trace.query import event_text, summary_text
from moose_trace.query.event_text import *  # noqa: F403
from moose_trace.query.summary_text import *  # noqa: F403

__all__: list[str] = []
__all__ += event_text.__all__
__all__ += summary_text.__all__
