"""Text of any value for a log line, even of objects whose ``__str__`` is broken."""

from __future__ import annotations

__all__ = ["safe_str"]


def safe_str(value: object) -> str:
    """Return ``str(value)``, or ``<unprintable TypeName>`` when that raises; never raises."""
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"
