"""How one decorator's calls read in the logs: primitive type, default layer, event names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Kind", "generic_kind"]


@dataclass(frozen=True)
class Kind:
    """How one decorator's calls read in the logs: primitive type, default layer, events."""

    type: str
    layer: str
    success_event: str
    failure_event: str
    start_event: str
    retry_event: str
    success_status: str = "success"
    batch: bool = False
    run_id: Literal["new", "inherit"] | None = None
    """``new``: each call is a workflow run with its own id; ``inherit``: a task of one."""


def generic_kind(kind: str, layer: str | None) -> Kind:
    """Return the ``Kind`` of ``traced(type=kind)``: events ``<type> started/completed/failed``."""
    return Kind(
        type=kind,
        layer=layer or "",
        success_event=f"{kind} completed",
        failure_event=f"{kind} failed",
        start_event=f"{kind} started",
        retry_event=f"{kind} retrying",
    )
