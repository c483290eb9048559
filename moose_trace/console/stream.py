"""``WS /api/stream``: the live tail — each new matching event as one JSON message, in order.

The filters are ``/api/events``' query parameters. A follower thread (``ConsoleSource.follow``:
``--follow``'s file tailing or table polling) hands batches of new events to the event loop,
which sends them in the order they were written. A client too slow to keep up gets the newest
``MAX_QUEUED`` events and one ``{"dropped": n}`` message saying how many it missed, instead of
the server's memory growing without end.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from datetime import datetime, timezone
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from moose_trace.console.params import event_filter
from moose_trace.console.source import ConsoleSource
from moose_trace.query.codec import dumps_text
from moose_trace.query.errors import QueryError

__all__ = ["MAX_QUEUED", "stream_events"]

MAX_QUEUED = 50_000
"""Events held for one slow client; older ones are dropped and counted past this."""


class _Outbox:
    """New events waiting to be sent to one client, filled from the follower thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.events: list[dict[str, Any]] = []
        self.dropped = 0
        self.ready = asyncio.Event()
        self.lock = threading.Lock()

    def put(self, batch: list[dict[str, Any]]) -> None:
        with self.lock:
            self.events.extend(batch)
            excess = len(self.events) - MAX_QUEUED
            if excess > 0:
                del self.events[:excess]
                self.dropped += excess
        self.loop.call_soon_threadsafe(self.ready.set)

    def take(self) -> tuple[list[dict[str, Any]], int]:
        with self.lock:
            events, self.events = self.events, []
            dropped, self.dropped = self.dropped, 0
        self.ready.clear()
        return events, dropped


async def stream_events(websocket: WebSocket, source: ConsoleSource) -> None:
    """Send each new event matching the socket's query parameters until the client leaves."""
    await websocket.accept()
    try:
        chosen = event_filter(websocket.query_params, datetime.now(timezone.utc))
    except QueryError as bad:
        # Accepted first, so that the client reads why (a refused handshake says only 403).
        await websocket.close(code=1008, reason=str(bad)[:120])
        return
    outbox = _Outbox(asyncio.get_running_loop())
    stop = threading.Event()
    failure: list[str] = []

    def follow() -> None:
        try:
            source.follow(chosen.where, outbox.put, stop)
        except Exception as error:  # reported to the client, then it closes
            failure.append(f"{type(error).__name__}: {error}")
            outbox.loop.call_soon_threadsafe(outbox.ready.set)

    follower = threading.Thread(target=follow, name="moose-trace-console-follow", daemon=True)
    follower.start()
    receiver = asyncio.create_task(_until_closed(websocket))
    try:
        while not receiver.done():
            waiter = asyncio.create_task(outbox.ready.wait())
            await asyncio.wait({waiter, receiver}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            events, dropped = outbox.take()
            if dropped:
                await websocket.send_text(dumps_text({"dropped": dropped}))
            for event in events:
                await websocket.send_text(dumps_text(event))
            if failure:
                await websocket.send_text(dumps_text({"error": failure[0]}))
                await websocket.close(code=1011)
                break
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        stop.set()
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
            await receiver


async def _until_closed(websocket: WebSocket) -> None:
    """Read (and ignore) client messages until it disconnects: how a close is noticed."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
