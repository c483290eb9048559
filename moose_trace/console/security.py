"""The console's guard: who may read the logs, and what a page may do with them.

A pure ASGI middleware in front of every route and WebSocket:

- Bound to loopback, the console answers only requests whose ``Host`` names loopback (a web
  page elsewhere cannot reach it through DNS rebinding). Bound anywhere else, a token is
  required: the ``Authorization: Bearer`` header, the ``token`` query parameter (the first
  link) or the cookie that parameter sets (every later request, WebSocket included), compared
  in constant time.
- A WebSocket from a page of another origin is refused (cross-site WebSocket hijacking).
- Every HTTP answer carries a strict Content-Security-Policy (scripts and styles from the
  console's own files only, nothing inline), ``nosniff`` and no referrer: log lines are hostile
  input, and the page renders them as text only.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "TOKEN_COOKIE",
    "TOKEN_ENV",
    "ConsoleGuard",
    "loopback_hosts",
]

TOKEN_ENV = "MOOSE_TRACE_CONSOLE_TOKEN"
"""The environment variable that holds the console's access token (else ``--token``)."""

TOKEN_COOKIE = "moose_trace_console"
"""The cookie that carries the token after the first request that gave it."""

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
"""No inline script or style, no third party, no framing."""

_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


def loopback_hosts(port: int) -> frozenset[str]:
    """Return the ``Host`` header values that name the loopback console on ``port``."""
    names = ("127.0.0.1", "localhost", "[::1]")
    return frozenset({*names, *(f"{name}:{port}" for name in names)})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class ConsoleGuard:
    """Checks the host, the token and the origin; adds the security headers.

    ``token``: required on every request when set. ``hosts``: the accepted ``Host`` values
    (``None``: any, for a console bound to a public address behind its token).
    """

    def __init__(
        self, app: ASGIApp, *, token: str | None = None, hosts: Iterable[str] | None = None
    ) -> None:
        self.app = app
        self.token = token.encode() if token else None
        self.hosts = None if hosts is None else frozenset(host.lower() for host in hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            status, message = refusal
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008, "reason": message})
                return
            await _send_refusal(send, status, message)
            return
        set_cookie = self.token is not None and self._query_token(scope) is not None
        await self.app(scope, receive, self._with_headers(send, set_cookie=set_cookie))

    def _refusal(self, scope: Scope) -> tuple[int, str] | None:
        host = (_header(scope, b"host") or "").lower()
        if self.hosts is not None and host not in self.hosts:
            return 403, "this console answers on its loopback address only"
        if scope["type"] == "websocket":
            origin = _header(scope, b"origin")
            if origin is not None and urlsplit(origin).netloc.lower() != host:
                return 403, "WebSocket from another origin"
        if self.token is not None and not self._token_ok(scope):
            return 401, "a token is required: open the console with ?token=… or send a Bearer"
        return None

    def _query_token(self, scope: Scope) -> str | None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        values = query.get("token")
        return values[-1] if values else None

    def _offered(self, scope: Scope) -> list[str]:
        offered = []
        authorization = _header(scope, b"authorization")
        if authorization and authorization.lower().startswith("bearer "):
            offered.append(authorization[7:].strip())
        cookie_header = _header(scope, b"cookie")
        if cookie_header:
            cookies: SimpleCookie = SimpleCookie()
            try:
                cookies.load(cookie_header)
            except Exception:  # a malformed cookie header is no token
                cookies = SimpleCookie()
            if TOKEN_COOKIE in cookies:
                offered.append(cookies[TOKEN_COOKIE].value)
        if (query := self._query_token(scope)) is not None:
            offered.append(query)
        return offered

    def _token_ok(self, scope: Scope) -> bool:
        assert self.token is not None
        ok = False
        for candidate in self._offered(scope):
            ok |= hmac.compare_digest(candidate.encode(), self.token)
        return ok

    def _with_headers(self, send: Send, *, set_cookie: bool) -> Send:
        token = self.token

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", ()), *_HEADERS]
                if set_cookie and token is not None:
                    cookie = (
                        f"{TOKEN_COOKIE}={token.decode()}; Path=/; HttpOnly; SameSite=Strict"
                    ).encode()
                    headers.append((b"set-cookie", cookie))
                message = {**message, "headers": headers}
            await send(message)

        return send_with_headers


async def _send_refusal(send: Send, status: int, message: str) -> None:
    body = ('{"error": "' + message.replace('"', "'") + '"}').encode()
    headers = [(b"content-type", b"application/json"), *_HEADERS]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
