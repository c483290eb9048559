"""``latency_ms``: the ``latency_ms`` field of the access line and the decorators' lines."""

from __future__ import annotations

__all__ = ["latency_ms"]


def latency_ms(elapsed_ns: int) -> float:
    """Milliseconds, to the microsecond (half a microsecond rounds up).

    Integer arithmetic: a fifth of ``round(elapsed_ns / 1e6, 3)``'s cost, which formats the
    float to decimal digits to round it; it runs once per request and per traced call.
    """
    return (elapsed_ns + 500) // 1000 / 1000
