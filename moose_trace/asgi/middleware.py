"""``TraceMiddleware``: every HTTP request and WebSocket session runs in its own trace context.

Pure ASGI (no framework import): ``app.add_middleware(TraceMiddleware)`` in Starlette or FastAPI,
or ``TraceMiddleware(app)`` around any ASGI app. Per request it

1. takes the trace from an outer OpenTelemetry span already running, else a valid
   ``traceparent`` (with its flags, ``tracestate`` and the ``baggage``), else ``X-Trace-Id``,
   else makes a UUIDv7 (an invalid value is replaced, logged once at warning — escaped and cut —
   and never sent back; a valid id of another trace is ``linked_trace_id``); see
   docs/standards.md;
2. runs the app inside ``trace_context(trace_id, type=…, name=…, layer=…)``, so every log line
   of the request carries them (``context_fields`` binds more of the request's fields);
3. adds ``X-Trace-Id`` (and ``traceparent`` when a span is active) to the response start, for
   streaming responses and errors too;
4. writes one access line through the app's structlog configuration when the response is done;
5. turns an unhandled exception into an error line (with its ``error_category``) and, when no
   response has started, a 500 that carries the trace id.

Lifespan and other scope types pass through untouched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson
from opentelemetry import trace as otel_trace

from moose_trace.asgi._incoming import RequestHeaders, choose_trace, read_headers
from moose_trace.asgi._metrics import record_request
from moose_trace.asgi._request_trace import RequestTrace
from moose_trace.asgi._response import ResponseWatch
from moose_trace.asgi._span import ServerSpans
from moose_trace.asgi._stacking import STACKING_HINT, stacking_risk
from moose_trace.asgi._types import ASGIApp, Message, Receive, Scope, Send
from moose_trace.asgi.client import TrustedProxies
from moose_trace.asgi.naming import PathClassifier, PathRule, route_template
from moose_trace.asgi.principal import scope_principal
from moose_trace.errors._rules import category_of_error_status
from moose_trace.errors.categories import error_fields
from moose_trace.logging._latency import latency_ms
from moose_trace.logging.config import direct_logger
from moose_trace.tracing.context import bound_pairs, current_fields
from moose_trace.tracing.otel import LAYER_ATTRIBUTE
from moose_trace.tracing.propagation import IncomingTrace

__all__ = [
    "ACCESS_EVENT",
    "ACCESS_FAILED_EVENT",
    "CANCELLED_EVENT",
    "DEFAULT_CONTEXT_FIELDS",
    "LOGGER_NAME",
    "OUTER_SPAN_EVENT",
    "REJECTED_EVENT",
    "REQUEST_FIELDS",
    "STACKING_EVENT",
    "TraceMiddleware",
]

LOGGER_NAME = "moose_trace.asgi"
"""The structlog logger name of the access lines (``LOG_LEVEL_MOOSE_TRACE_ASGI`` sets its level)."""
ACCESS_EVENT = "request handled"
"""The ``event`` of the access line of a request answered with a status below 500."""
ACCESS_FAILED_EVENT = "request failed"
"""The ``event`` of the access line of a request that failed: a 5xx or an unhandled exception."""
CANCELLED_EVENT = "request cancelled"
"""The ``event`` of the access line of a request cut short (client gone, server shutting down)."""
REJECTED_EVENT = "rejected incoming trace id"
"""The ``event`` of the warning about an invalid incoming ``X-Trace-Id`` (value escaped, cut)."""
OUTER_SPAN_EVENT = "outer span overrules incoming trace id"
"""The ``event`` of the one warning when an outer OpenTelemetry span ignored ``X-Trace-Id``."""
STACKING_EVENT = "opentelemetry middleware may overrule incoming trace ids"
"""The ``event`` of the warning at ASGI lifespan startup: OpenTelemetry's ASGI instrumentation is
loaded, its propagator does not read ``X-Trace-Id`` and no ``OpenTelemetryMiddleware`` is inside
``TraceMiddleware``; one outside cannot continue a client's ``X-Trace-Id``."""
REQUEST_FIELDS = (
    "type",
    "name",
    "layer",
    "http_method",
    "http_path",
    "client_ip",
    "request_id",
)
"""The request's fields: all are on the access line; ``context_fields`` picks the bound ones."""
DEFAULT_CONTEXT_FIELDS = ("type", "name", "layer")
"""Bound for the whole request by default: enough to find any of its lines by primitive."""

_TRACED_SCOPES = frozenset({"http", "websocket"})
_CLIENT_CLOSED = 499  # nginx's status for a request the client gave up on
_DEFAULT_RULE = PathRule()
_MAX_CACHED_PAIRS = 1024
_now_ns = time.perf_counter_ns
_INFO = logging.INFO


class TraceMiddleware:
    """ASGI middleware: trace id in, trace context around the app, trace id out, access line.

    Keyword options:

    - ``rule``: request path → ``(type, name)`` of the user primitive; default ``PathRule()``
      (``/ingest/UserEvent`` → ``("ingest", "UserEvent")``, ``/consumption/leaderboard`` →
      ``("api", "leaderboard")``). Pass ``PathRule(ingest_prefixes=[...])`` or any callable.
    - ``trusted_proxies``: addresses or networks (``["10.0.0.0/8"]``) whose ``X-Forwarded-For``
      is believed for ``client_ip``; default none: the direct peer is the client.
    - ``principal``: scope → the authenticated principal or ``None``, asked after the app ran;
      default ``scope_principal`` (``request.state.principal``, else Starlette's ``scope["user"]``).
    - ``layer``: the ``layer`` field; default ``"webserver"``.
    - ``context_fields``: which of ``REQUEST_FIELDS`` are bound for the whole request (every log
      line inside carries them); default ``("type", "name", "layer")``. Each one bound costs
      every log line of the request a little, so the rest are on the access line only.
    - ``access_log``: write the access line (default ``True``).
    - ``logger``: the structlog logger for the middleware's lines; default
      ``structlog.get_logger("moose_trace.asgi")``.
    - ``tracing``: start one OpenTelemetry SERVER span per request (default ``False``); its trace
      id is the request's trace id. ``tracer_provider`` picks the provider (implies tracing);
      default the global one.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        rule: PathClassifier | None = None,
        trusted_proxies: Iterable[str] | TrustedProxies = (),
        principal: Callable[[Mapping[str, Any]], str | None] = scope_principal,
        layer: str = "webserver",
        context_fields: Iterable[str] = DEFAULT_CONTEXT_FIELDS,
        access_log: bool = True,
        logger: Any = None,
        tracing: bool = False,
        tracer_provider: otel_trace.TracerProvider | None = None,
    ) -> None:
        self.app = app
        self._rule: PathClassifier = rule if rule is not None else PathRule()
        self._proxies = (
            trusted_proxies
            if isinstance(trusted_proxies, TrustedProxies)
            else TrustedProxies(trusted_proxies)
        )
        self._principal = principal
        self._layer = layer
        bound = tuple(dict.fromkeys(context_fields))
        unknown = [field for field in bound if field not in REQUEST_FIELDS]
        if unknown:
            raise ValueError(
                f"context_fields {unknown!r} are not request fields; choose from {REQUEST_FIELDS}"
            )
        self._context_fields = None if bound == DEFAULT_CONTEXT_FIELDS else bound
        self._access_log = access_log
        self._log: Any = logger
        # The default logger's ``log(level, event, fields)``: the usual access line goes
        # through it without packing its fields as keyword arguments and unpacking them again.
        self._direct_log: Callable[[int, str, Mapping[str, Any]], None] | None = None
        self._spans = (
            ServerSpans(tracer_provider) if tracing or tracer_provider is not None else None
        )
        self._warned_outer = False
        # (type, name) → the default context fields' ContextVars and values, looked up once.
        self._pairs: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection: trace http and websocket scopes, pass others through."""
        kind = scope["type"]
        if kind not in _TRACED_SCOPES:
            if kind == "lifespan" and not self._warned_outer:
                send = self._checking_startup(send)
            await self.app(scope, receive, send)
            return
        started_ns = _now_ns()
        headers = read_headers(scope.get("headers") or ())
        fields = self._request_fields(scope, headers)
        trace = self._enter_trace(scope, fields, headers.incoming)
        response = ResponseWatch(send, trace.headers, http=kind == "http")
        try:
            if headers.incoming.rejected is not None:
                self._logger().warning(REJECTED_EVENT, rejected_trace_id=headers.incoming.rejected)
            try:
                await self.app(scope, receive, response.send)
            except Exception as exc:
                response.error = exc
                if response.status == 0 and kind == "http":
                    # Answered with a 500 naming the trace id (``handled`` when it went out).
                    response.handled = await _send_server_error(
                        response.send, trace.context.trace_id
                    )
            except BaseException as exc:  # cancelled (client gone, shutdown), interrupted
                response.error = exc
            status = response.status
            if response.error is None and status >= 400:
                response.category = _status_category(status)
            elapsed_ns = (response.finished_ns or _now_ns()) - started_ns
            if self._access_log:
                self._access(scope, fields, elapsed_ns, response)
            record_request(
                fields["type"],
                fields["layer"],
                fields["name"],
                elapsed_ns=elapsed_ns,
                status=status,
                error=response.error,
                category=response.category,
            )
        finally:
            trace.leave(scope, response.status or 500, response.error, response.category)
        if response.error is not None and not response.handled:
            raise response.error

    def _request_fields(self, scope: Scope, headers: RequestHeaders) -> dict[str, Any]:
        """The request's fields, in the access line's order: primitive, name, layer, method,
        path, then the client's address and request id when known."""
        path: str = scope["path"]
        try:
            primitive, name = self._rule(path)
        except Exception:  # a broken custom rule must not take every request down with it
            primitive, name = _DEFAULT_RULE(path)
        fields: dict[str, Any] = {
            "type": primitive,
            "name": name,
            "layer": self._layer,
            "http_method": scope.get("method") or "GET",
            "http_path": path,
        }
        client = scope.get("client")
        client_ip = client[0] if client else None
        if headers.forwarded is not None and self._proxies:
            client_ip = self._proxies.client_ip(client_ip, headers.forwarded_text())
        if client_ip is not None:
            fields["client_ip"] = client_ip
        if headers.request_id is not None:
            fields["request_id"] = headers.request_id
        return fields

    def _enter_trace(
        self, scope: Scope, fields: dict[str, Any], incoming: IncomingTrace
    ) -> RequestTrace:
        """Choose the request's trace (outer span, headers, or new) and enter it."""
        spans = self._spans
        # The remote parent context is for the server span only (made current without a span
        # of ours, the request's parent is built lazily: see RequestTrace).
        choice = choose_trace(incoming, with_parent=spans is not None)
        if choice.linked_trace_id is not None:
            fields["linked_trace_id"] = choice.linked_trace_id
            if choice.outer_disagrees:
                self._warn_outer_span(choice.trace_id, choice.linked_trace_id)
        span_start = None
        if spans is not None:
            method, path = fields["http_method"], fields["http_path"]
            span_start = (method, _span_attributes(scope, method, path, self._layer))
        return RequestTrace(choice, incoming, self._context_pairs(fields), spans, span_start)

    def _context_pairs(self, fields: dict[str, Any]) -> Any:
        """The ContextVars and values of the fields bound for the whole request."""
        bound = self._context_fields
        if bound is None:
            primitive, name = fields["type"], fields["name"]
            pairs = self._pairs.get((primitive, name))
            return pairs if pairs is not None else self._default_pairs(primitive, name)
        return bound_pairs({key: fields[key] for key in bound if key in fields})

    def _default_pairs(self, primitive: str, name: str) -> Any:
        """The bound fields of requests to ``(primitive, name)``, made once (a bounded cache)."""
        if len(self._pairs) >= _MAX_CACHED_PAIRS:
            self._pairs.clear()  # paths named by id: do not grow without bound
        pairs = self._pairs[(primitive, name)] = bound_pairs(
            {"type": primitive, "name": name, "layer": self._layer}
        )
        return pairs

    def _checking_startup(self, send: Send) -> Send:
        """Wrap the lifespan ``send``: when the app's startup is complete, check the stacking.

        Checked after the app's own startup ran (it may install the propagator there), and
        before any request; the first request that shows the problem warns in servers without
        lifespan (``_warn_outer_span``).
        """

        async def send_checked(message: Message) -> None:
            if message.get("type") == "lifespan.startup.complete" and not self._warned_outer:
                try:
                    risky = stacking_risk(self.app)
                except Exception:  # a check must never fail the app's startup
                    risky = False
                if risky:
                    self._warned_outer = True
                    self._logger().warning(STACKING_EVENT, hint=STACKING_HINT)
            await send(message)

        return send_checked

    def _warn_outer_span(self, trace_id: str | None, linked: str) -> None:
        """Say once that an outer span overruled a client's id, and how to avoid it.

        Not again when the startup check already said so (``STACKING_EVENT``).
        """
        if self._warned_outer:
            return
        self._warned_outer = True
        self._logger().warning(
            OUTER_SPAN_EVENT,
            outer_trace_id=trace_id,
            linked_trace_id=linked,
            hint=STACKING_HINT,
        )

    def _logger(self) -> Any:
        """Return the logger of the middleware's lines.

        The default is moose-trace's direct logger named ``moose_trace.asgi``: under
        ``configure_logging`` the access line goes straight to the compiled logging chain (no
        bound logger in between, the same bytes); under any other structlog setup it is
        ``structlog.get_logger("moose_trace.asgi")``.
        """
        if self._log is None:
            log = self._log = direct_logger(LOGGER_NAME)
            self._direct_log = log.log
        return self._log

    def _access(
        self, scope: Scope, fields: dict[str, Any], elapsed_ns: int, response: ResponseWatch
    ) -> None:
        """Write the access line: every request field, the outcome, the principal and route."""
        error, category, status = response.error, response.category, response.status
        fields["http_status"] = status
        fields["latency_ms"] = latency_ms(elapsed_ns)
        try:
            principal = self._principal(scope)
        except Exception:  # a broken custom lookup: the line goes out without a principal
            principal = None
        if principal is not None:
            fields["principal"] = principal
        route = route_template(scope)
        if route is not None:
            fields["http_route"] = route
        log = self._log
        if log is None:
            log = self._logger()
        if error is None:
            if status < 400:
                direct = self._direct_log
                if direct is not None:
                    direct(_INFO, ACCESS_EVENT, fields)
                else:
                    log.info(ACCESS_EVENT, **fields)
                return
            if category is not None:
                fields["error_category"] = category
            if status < 500:
                log.warning(ACCESS_EVENT, **fields)
            else:
                log.error(ACCESS_FAILED_EVENT, **fields)
        elif isinstance(error, Exception):
            fields["http_status"] = status or 500
            log.error(ACCESS_FAILED_EVENT, **fields, **error_fields(error))
        else:
            fields["http_status"] = status or _CLIENT_CLOSED
            log.warning(CANCELLED_EVENT, **fields, **error_fields(error))


def _status_category(status: int) -> str | None:
    """The ``error_category`` of an error status sent without raising, for line and span.

    The app's, when it bound one, else the status's (``category_of_error_status``).
    """
    bound = current_fields().get("error_category")
    return bound if bound is not None else category_of_error_status(status)


def _span_attributes(scope: Scope, method: str, path: str, layer: str) -> dict[str, Any]:
    # The semantic conventions' required HTTP server attributes; the client address and the
    # rest are on the access line (each span attribute costs the SDK a validation and a lock).
    return {
        "http.request.method": method,
        "url.path": path,
        "url.scheme": scope.get("scheme") or "http",
        LAYER_ATTRIBUTE: layer,
    }


async def _send_server_error(send: Send, trace_id: str) -> bool:
    """Send a 500 with a JSON body naming the trace id; false when the client is gone."""
    body = orjson.dumps({"error": "Internal Server Error", "trace_id": trace_id})
    try:
        await send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode("ascii")),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
    except Exception:
        return False
    return True
