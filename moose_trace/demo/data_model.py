"""The demo app's data model: its topics, and the tables of each version of the app.

``moose-trace demo`` creates the topics and deploys version 1 of the tables; the US-7 story
deploys version 2 (``UserEvent.session_id``) while records flow.
"""

from __future__ import annotations

from moose_trace.demo.infra import TableSpec

__all__ = ["DLQ_TOPIC", "TABLES", "TABLES_V2", "TOPICS"]

DLQ_TOPIC = "UserEventDeadLetter"
"""Where ``user_event_to_session`` sends the records it cannot transform."""
TOPICS = ("UserEvent", "Session", "EnrichedSession", DLQ_TOPIC)
"""The topics the demo creates."""

_USER_EVENT = (
    ("user_id", "UInt64"),
    ("event", "String"),
    ("timestamp", "DateTime64(3, 'UTC')"),
    ("properties", "String"),
)
TABLES = (
    TableSpec("UserEvent", _USER_EVENT, "(user_id, timestamp)"),
    TableSpec(
        "Session",
        (("session_id", "String"), ("user_id", "UInt64"), ("event", "String"), ("page", "String")),
        "session_id",
    ),
    TableSpec("ExternalScores", (("user_id", "UInt64"), ("score", "UInt32")), "user_id"),
)
"""The tables of the app's first version."""
TABLES_V2 = (
    TableSpec("UserEvent", (*_USER_EVENT, ("session_id", "String")), "(user_id, timestamp)"),
    *TABLES[1:],
)
"""Version 2 adds ``UserEvent.session_id`` (US-7)."""
