"""The demo's workflow ``data_refresh``: fetch the analytics API's scores, load them (US-9).

``fetch_external_data`` ▶ ``load_to_clickhouse`` (table ``ExternalScores``), each a
``traced_task`` inside the ``traced_workflow``; a failed fetch is retried with a growing backoff,
as Temporal retries an activity, each attempt with its ``retry_count``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog

from moose_trace.demo.table import OlapStore
from moose_trace.tracing.context import bind_fields, current_fields, trace_context

__all__ = ["run_data_refresh"]

_log = structlog.get_logger("moose_trace.demo.pipeline")


def run_data_refresh(
    http: Any,
    external_url: str,
    store: OlapStore,
    on_failure: Callable[[], None],
    *,
    attempts: int,
    run_ids: list[str],
) -> None:
    """Run ``data_refresh`` once with ``http`` (an ``httpx.Client``), appending its run id.

    ``on_failure`` is called after each failed fetch, before the backoff; the last failure is
    raised (logged by the decorators first).
    """
    from moose_trace.decorators import traced_task, traced_workflow  # noqa: PLC0415

    @traced_task("fetch_external_data")
    def fetch_external_data() -> list[dict[str, Any]]:
        import httpx  # noqa: PLC0415 (optional dependency)

        url = f"{external_url}/data"
        try:
            response = http.get(url, params={"records": 500})
        except httpx.ConnectError as refused:
            raise ConnectionError(f"External API unreachable: {url} ({refused})") from refused
        response.raise_for_status()
        rows: list[dict[str, Any]] = response.json()
        bind_fields(records=len(rows))
        return rows

    @traced_task("load_to_clickhouse")
    def load_to_clickhouse(rows: list[dict[str, Any]]) -> int:
        store.insert("ExternalScores", rows)
        bind_fields(records=len(rows))
        return len(rows)

    @traced_workflow("data_refresh")
    def data_refresh() -> int:
        run_ids.append(str(current_fields().get("workflow_run_id")))
        for attempt in range(attempts):
            try:
                with trace_context(retry_count=attempt):
                    rows = fetch_external_data()
                break
            except Exception:  # logged by traced_task; the workflow retries, as Temporal does
                on_failure()
                if attempt == attempts - 1:
                    raise
                backoff_ms = 500 * (attempt + 1)
                _log.info(
                    "workflow retrying",
                    status="retrying",
                    retry_count=attempt + 1,
                    backoff_ms=backoff_ms,
                )
                time.sleep(backoff_ms / 1000)
        return load_to_clickhouse(rows)

    with trace_context(service="demo-workflow"):
        data_refresh()
