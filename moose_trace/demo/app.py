"""The demo's ingest and consumption app: a Starlette app behind ``TraceMiddleware``.

- ``POST /ingest/UserEvent``: validates the JSON record(s) (``user_id`` integer, ``event``
  text) and produces each to the ``UserEvent`` topic with the request's trace id in its headers.
  It does not check ``timestamp``: a text that is no DateTime is accepted here and refused by
  the table on insert (US-1).
- ``GET /consumption/leaderboard``: the top users from the ``UserEvent`` table, through a small
  connection pool; when the pool stays full longer than the query timeout the request fails
  with 500 and a ``timeout_error`` (US-3).
- ``GET /consumption/report``: a heavy report that holds a pool connection while it runs.
- ``GET /consumption/user-pii``: personal data behind a bearer token; every access is an audit
  event (``security``, ``auth``, ``principal``, ``client_ip``), and repeated failures from one
  address raise an alert (US-4).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog

from moose_trace.demo.progress import DemoStats
from moose_trace.demo.table import OlapStore
from moose_trace.errors.categories import error_fields
from moose_trace.tracing.context import bind_fields, current_fields, trace_context

__all__ = ["AppSettings", "QueryPool", "build_app"]

_log = structlog.get_logger("moose_trace.demo.app")

_CONTEXT_FIELDS = ("type", "name", "layer", "http_method", "http_path", "client_ip", "request_id")
# Bound for every line of a request: the audit lines of US-4 need the client's address.

PIPELINE = "UserEventPipeline"
"""The pipeline the ingest endpoint, its topic and its table belong to."""


@dataclass(frozen=True)
class AppSettings:
    """What the app is configured with."""

    tokens: Mapping[str, str] = field(
        default_factory=lambda: {
            "demo-token-alice": "alice@example.com",
            "demo-token-admin": "admin@example.com",
        }
    )
    """Valid bearer tokens and the principal each stands for."""
    expired_tokens: frozenset[str] = frozenset({"demo-token-expired"})
    """Tokens that were valid once."""
    pool_size: int = 2
    """Connections the consumption APIs share."""
    query_timeout_ms: float = 500
    """How long a query waits for a connection before it times out."""
    report_hold_ms: float = 1200
    """How long the heavy report keeps its connection."""
    alert_after_failures: int = 3
    """Failed auth attempts from one address within ``alert_window_s`` that raise an alert."""
    alert_window_s: float = 60
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    """Peers whose ``X-Forwarded-For`` is believed (the workload plays a load balancer)."""


class QueryPool:
    """A fixed number of connections to the OLAP engine; a query waits for one, up to a timeout."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self.active = 0

    @contextmanager
    def connection(self, timeout_ms: float) -> Iterator[None]:
        """Hold a connection for the block; ``TimeoutError`` when none frees up in time."""
        if not self._slots.acquire(timeout=timeout_ms / 1000):
            raise TimeoutError(
                f"ClickHouse query timeout after {timeout_ms:.0f}ms: "
                f"no free connection (pool {self.size}/{self.size} in use)"
            )
        with self._lock:
            self.active += 1
        try:
            yield
        finally:
            with self._lock:
                self.active -= 1
            self._slots.release()


class _FailedAuth:
    """Failed authentication attempts per client address, within a time window."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._lock = threading.Lock()
        self._seen: dict[str, deque[float]] = defaultdict(deque)

    def record(self, address: str) -> int:
        """Record a failure from ``address``; return the failures from it within the window."""
        now = time.monotonic()
        with self._lock:
            seen = self._seen[address]
            seen.append(now)
            while seen and seen[0] < now - self.window_s:
                seen.popleft()
            return len(seen)


def build_app(
    producer: Any, store: OlapStore, stats: DemoStats, settings: AppSettings | None = None
) -> Any:
    """Return the app (Starlette inside ``TraceMiddleware``), producing with ``producer``."""
    from starlette.applications import Starlette  # noqa: PLC0415 (optional dependencies)
    from starlette.requests import Request  # noqa: PLC0415
    from starlette.responses import JSONResponse, Response  # noqa: PLC0415
    from starlette.routing import Route  # noqa: PLC0415

    from moose_trace.asgi import TraceMiddleware  # noqa: PLC0415
    from moose_trace.decorators import traced_api  # noqa: PLC0415

    config = settings or AppSettings()
    pool = QueryPool(config.pool_size)
    failures = _FailedAuth(config.alert_window_s)
    leaderboard_sql = (
        f"SELECT user_id, count(*) AS score FROM {store.qualified('UserEvent')} "
        "GROUP BY user_id ORDER BY score DESC, user_id LIMIT 10"
    )

    def produce(records: list[dict[str, Any]]) -> None:
        for record in records:
            producer.produce("UserEvent", value=orjson.dumps(record), key=str(record["user_id"]))
        with trace_context(type="stream", name="UserEvent", layer="streaming"):
            remaining = producer.flush(10)  # delivery reports are logged here, as the stream
        if remaining:
            raise TimeoutError(f"{remaining} records not delivered to Kafka within 10 s")
        stats.add("produced", len(records))

    async def ingest(request: Request) -> Response:
        bind_fields(pipeline=PIPELINE)
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as bad:
            return _rejected(f"body is not JSON: {bad}", bad)
        records = body if isinstance(body, list) else [body]
        problem = _invalid(records)
        if problem is not None:
            return _rejected(problem, ValueError(problem))
        await asyncio.to_thread(produce, records)
        return JSONResponse({"status": "ok", "records": len(records)})

    def _rejected(message: str, error: Exception) -> Response:
        _log.warning("ingest rejected", **_error_fields(error))
        return JSONResponse({"error": message}, status_code=400)

    @traced_api(name="leaderboard")
    def leaderboard_query() -> list[dict[str, Any]]:
        return _query("leaderboard", leaderboard_sql, hold_ms=0)

    @traced_api(name="report")
    def report_query() -> list[dict[str, Any]]:
        sql = f"SELECT count(*) AS events FROM {store.qualified('UserEvent')}"
        return _query("report", sql, hold_ms=config.report_hold_ms)

    def _query(name: str, sql: str, hold_ms: float) -> list[dict[str, Any]]:
        started = time.perf_counter()
        with trace_context(layer="storage", type="olap_table", name=name, operation="query"):
            try:
                with pool.connection(config.query_timeout_ms):
                    rows = store.query(sql)
                    if hold_ms:  # the heavy report keeps scanning: its connection stays taken
                        time.sleep(hold_ms / 1000)
            except TimeoutError as timeout:
                _log.error(
                    "query timed out",
                    query=sql,
                    latency_ms=round((time.perf_counter() - started) * 1000, 3),
                    **_error_fields(timeout),
                )
                _log.info(
                    "ClickHouse diagnostics",
                    active_queries=pool.active,
                    connection_pool=f"{pool.active}/{pool.size} (saturated)",
                    hint="Potential issue: Connection pool exhausted",
                )
                raise
            _log.debug(
                "query done",
                query=sql,
                rows=len(rows),
                latency_ms=round((time.perf_counter() - started) * 1000, 3),
            )
            return rows

    async def leaderboard(_request: Request) -> Response:
        return await _consumption(leaderboard_query)

    async def report(_request: Request) -> Response:
        return await _consumption(report_query)

    async def _consumption(query: Any) -> Response:
        try:
            rows = await asyncio.to_thread(query)
        except TimeoutError as timeout:
            bind_fields(**_error_fields(timeout))  # the access line of this 500 says why
            return JSONResponse({"error": str(timeout)}, status_code=500)
        return JSONResponse({"rows": rows})

    async def user_pii(request: Request) -> Response:
        client_ip = str(current_fields().get("client_ip") or "")
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        principal = config.tokens.get(token)
        if principal is None:
            reason = (
                "missing_token"
                if not token
                else "expired_token"
                if token in config.expired_tokens
                else "invalid_signature"
            )
            _log.warning(
                "access denied",
                auth="failure",
                reason=reason,
                security="auth_failure",
                error_category="authentication_error",
            )
            attempts = failures.record(client_ip)
            if attempts == config.alert_after_failures:
                _log.error(
                    "Multiple failed auth attempts from same IP",
                    security="auth_failure",
                    auth="failure",
                    attempts=attempts,
                    error_category="authentication_error",
                    error_type="RepeatedAuthFailure",
                    error_message=f"{attempts} failed attempts from {client_ip}",
                    hint="Potential security issue: Multiple failed auth attempts from same IP",
                )
            return JSONResponse(
                {"error": "unauthorized", "reason": reason},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        request.state.principal = principal
        bind_fields(principal=principal)
        _log.info("access granted", auth="success", security=True)
        rows = [{"user_id": 1, "email": "user1@example.com"}]
        return JSONResponse({"rows": rows, "principal": principal})

    starlette = Starlette(
        routes=[
            Route("/ingest/UserEvent", ingest, methods=["POST"]),
            Route("/consumption/leaderboard", leaderboard, methods=["GET"]),
            Route("/consumption/report", report, methods=["GET"]),
            Route("/consumption/user-pii", user_pii, methods=["GET"]),
        ]
    )
    return TraceMiddleware(
        starlette, trusted_proxies=config.trusted_proxies, context_fields=_CONTEXT_FIELDS
    )


def _error_fields(error: BaseException) -> dict[str, Any]:
    """The error fields without the stack: these failures are expected, their place is known."""
    fields = error_fields(error)
    fields.pop("stack", None)
    return fields


def _invalid(records: list[Any]) -> str | None:
    if not records:
        return "no records"
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            return f"record {index} is not a JSON object"
        user_id = record.get("user_id")
        if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id < 0:
            return f"record {index}: user_id must be a non-negative integer"
        if not isinstance(record.get("event"), str):
            return f"record {index}: event must be text"
    return None
