"""``ResponseWatch``: the ``send`` the app gets — trace headers out, the outcome noted.

It adds ``X-Trace-Id`` (and ``traceparent`` when a span is active) to the response start (the
WebSocket accept, a WebSocket denial response), for streaming responses and errors too; it
notes the status the app sent and when the last body chunk went (the latency ends there, not
when the app returns after streaming).
"""

from __future__ import annotations

import time

from moose_trace.asgi._types import Message, Send

__all__ = ["ResponseWatch"]

_now_ns = time.perf_counter_ns


class ResponseWatch:
    """Wrap one connection's ``send``; ``status`` is 0 until the response starts.

    It also holds how the app's run ended (``error``, ``handled``, ``category``), set by the
    middleware: one object per request for both.
    """

    __slots__ = (
        "_added",
        "_http",
        "_send",
        "category",
        "error",
        "finished_ns",
        "handled",
        "status",
    )

    def __init__(self, send: Send, added: list[tuple[bytes, bytes]], *, http: bool) -> None:
        self._send = send
        self._added = added
        self._http = http
        self.status = 0
        """The response status (101 for an accepted WebSocket, 403 for one closed before it)."""
        self.finished_ns = 0
        """``perf_counter_ns`` when the last body chunk was sent; 0 until then."""
        self.error: BaseException | None = None
        """The exception the app raised, if any."""
        self.handled = False
        """Whether a 500 answering ``error`` went out."""
        self.category: str | None = None
        """The ``error_category`` of an error status sent without raising."""

    async def send(self, message: Message) -> None:
        """The ``send`` handed to the app."""
        if self.status:
            if self._http and not self.finished_ns and not message.get("more_body"):
                self.finished_ns = _now_ns()  # the last body chunk: the response is complete
        else:
            message = self._starting(message)
        await self._send(message)

    def _starting(self, message: Message) -> Message:
        """Note the status of the message that starts the response; add the trace headers."""
        message_type = message["type"]
        if message_type == "http.response.start":
            self.status = message["status"]
        elif message_type == "websocket.accept":
            self.status = 101
        elif message_type == "websocket.http.response.start":
            self.status = message["status"]
        elif message_type == "websocket.close":
            self.status = 403  # closed before the handshake: the server answers 403
            return message
        else:
            return message
        return {**message, "headers": [*message.get("headers", ()), *self._added]}
