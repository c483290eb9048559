"""``WS /api/stream``: the live tail — each new matching event as one JSON message, in order.

The filters are ``/api/events``' query parameters. A follower thread (``ConsoleSource.follow``:
``--follow``'s file tailing or table polling) hands batches of new events to the event loop,
which sends them in the order they were written. A client too slow to keep up holds the follower
back (``MAX_QUEUED``) rather than growing the server's memory.

With ``batch=1`` each message is instead a JSON array of the events that arrived together (at
most ``BATCH_EVENTS``), in order: what the page uses, so a burst of 100,000 lines costs the
browser a hundred messages rather than 100,000.
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
from moose_trace.query.exceptions import QueryError

__all__ = ["BATCH_EVENTS", "MAX_QUEUED", "stream_events"]

BATCH_EVENTS = 2000
"""With ``batch=1``: the most events one message (a JSON array) holds."""

MAX_QUEUED = 20_000
"""Events held for one client before the follower waits for it to take them."""


class _Outbox:
    """New events waiting to be sent to one client, filled from the follower thread.

    When ``MAX_QUEUED`` events wait, the follower waits too: the lines stay in the files (or
    the table) until the client has taken what came before, so memory stays bounded and no
    event is lost.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, stop: threading.Event) -> None:
        self.loop = loop
        self.stop = stop
        self.events: list[dict[str, Any]] = []
        self.ready = asyncio.Event()
        self.room = threading.Condition()

    def put(self, batch: list[dict[str, Any]]) -> None:
        with self.room:
            while len(self.events) >= MAX_QUEUED and not self.stop.is_set():
                self.room.wait(0.1)
            self.events.extend(batch)
        self.loop.call_soon_threadsafe(self.ready.set)

    def take(self) -> list[dict[str, Any]]:
        with self.room:
            events, self.events = self.events, []
            self.ready.clear()
            self.room.notify_all()
        return events


async def stream_events(websocket: WebSocket, source: ConsoleSource) -> None:
    """Send each new event matching the socket's query parameters until the client leaves."""
    await websocket.accept()
    try:
        chosen = event_filter(websocket.query_params, datetime.now(timezone.utc))
    except QueryError as bad:
        # Accepted first, so that the client reads why (a refused handshake says only 403).
        await websocket.close(code=1008, reason=str(bad)[:120])
        return
    batched = websocket.query_params.get("batch") in ("1", "true")
    stop = threading.Event()
    outbox = _Outbox(asyncio.get_running_loop(), stop)
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
            events = outbox.take()
            if batched:
                for start in range(0, len(events), BATCH_EVENTS):
                    await websocket.send_text(dumps_text(events[start : start + BATCH_EVENTS]))
            else:
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
