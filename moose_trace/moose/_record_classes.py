"""kafka-python's record classes as the hooks read them, and their traced subclasses.

A kafka-python ``ConsumerRecord`` is a namedtuple: the hooks read its topic, partition, offset
and headers by tuple index (``RecordShape``), without the properties. Records a caller copies
out of a poll's lists before iterating them (Moose's runner does, for records that arrive while
it waits for its partition assignment) are entered when first used instead: ``traced_records``
makes each record an instance of a subclass whose ``partition`` attribute enters the record's
trace if it is not in yet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moose_trace.moose._state import thread_state

__all__ = ["RecordShape", "shape_of", "traced_records"]


class RecordShape:
    """Where a record class keeps what the hooks read: tuple indexes, read without properties."""

    __slots__ = ("headers", "offset", "partition", "topic")

    def __init__(self, fields: tuple[str, ...]) -> None:
        self.topic = fields.index("topic")
        self.partition = fields.index("partition")
        self.offset = fields.index("offset")
        self.headers = fields.index("headers")


_traced_classes: dict[type, type] = {}
_shapes: dict[type, RecordShape] = {}


def shape_of(record: Any) -> RecordShape | None:
    """Return the shape of ``record`` if its class is one ``traced_records`` made, else ``None``."""
    return _shapes.get(type(record))


def _traced_class(cls: type, enter_on_use: Callable[[Any], None]) -> type | None:
    """``cls`` (a namedtuple record class) with a ``partition`` that enters the record."""
    traced = _traced_classes.get(cls)
    if traced is None:
        plain = getattr(cls, "partition", None)
        fields = getattr(cls, "_fields", None)
        if not isinstance(fields, tuple) or plain is None:
            return None
        try:
            shape = RecordShape(fields)
        except ValueError:  # not a record shaped like kafka-python's
            return None
        index = shape.partition
        state = thread_state

        def partition(self: Any) -> Any:
            if state.record_object is not self:  # not the record being handled: enter it
                enter_on_use(self)
            return self[index]

        # No __slots__: a record given a new trace id keeps it (see record_trace); the class
        # default answers for every other record without an instance dict.
        traced = type(
            cls.__name__, (cls,), {"partition": property(partition), "_moose_trace": None}
        )
        _traced_classes[cls] = traced
        _shapes[traced] = shape
    return traced


def traced_records(records: list[Any], enter_on_use: Callable[[Any], None]) -> list[Any]:
    """Return ``records`` as instances of their traced class: reading a record's ``partition``
    calls ``enter_on_use(record)`` unless it is the record being handled. Records of a class
    not shaped like kafka-python's are returned as they are."""
    if not records:
        return records
    traced = _traced_class(type(records[0]), enter_on_use)
    if traced is None:
        return records
    make = tuple.__new__
    return [make(traced, record) if type(record) is not traced else record for record in records]
