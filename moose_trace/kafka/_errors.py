"""The error fields of a librdkafka error (a ``KafkaError`` from a callback or ``msg.error()``)."""

from __future__ import annotations

from typing import Any

from moose_trace._text import safe_str
from moose_trace.errors.categories import categorize_error

__all__ = ["kafka_error_fields"]


def kafka_error_fields(error: Any) -> dict[str, Any]:
    """Return ``error_category``, ``error_type``, ``error_message`` for a ``KafkaError``.

    ``error_type`` is the librdkafka error name (``_MSG_TIMED_OUT``); the category comes from the
    shared taxonomy (``moose_trace.errors.categories``). Never raises.
    """
    try:
        from confluent_kafka import KafkaException  # noqa: PLC0415 - a client is in use already

        category = categorize_error(KafkaException(error))
        name = error.name()
        message = error.str()
    except Exception:
        return {
            "error_category": "unknown_error",
            "error_type": type(error).__name__,
            "error_message": safe_str(error),
        }
    return {"error_category": category, "error_type": name, "error_message": message}
