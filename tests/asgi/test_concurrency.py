"""Many requests at once never mix trace ids: every line belongs to its own request."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import httpx
from asgi_logs import Logs

REQUESTS = 500


async def test_500_concurrent_requests_keep_their_own_trace_ids(
    starlette_url: str, logs: Logs
) -> None:
    # Several clients of 20 connections each: one httpx pool of 500 connections spends its
    # time scanning itself (quadratic), the server would hardly be busy.
    clients = [
        httpx.AsyncClient(base_url=starlette_url, limits=httpx.Limits(max_connections=20))
        for _ in range(REQUESTS // 20)
    ]
    try:
        responses = await asyncio.gather(
            *(
                clients[n % len(clients)].get("/api/slow", params={"n": str(n)}, timeout=30)
                for n in range(REQUESTS)
            )
        )
    finally:
        for client in clients:
            await client.aclose()
    expected: dict[str, str] = {}
    for response in responses:
        assert response.status_code == 200
        body = response.json()
        assert body["trace_id"] == response.headers["x-trace-id"]
        expected[body["marker"]] = body["trace_id"]
    assert len(set(expected.values())) == REQUESTS
    steps = logs.wait_for(lambda e: e["event"] in ("step one", "step two"), count=2 * REQUESTS)
    by_marker: dict[str, list[str]] = defaultdict(list)
    for line in steps:
        assert line["trace_id"] == expected[line["marker"]], line
        by_marker[line["marker"]].append(line["event"])
    assert all(events == ["step one", "step two"] for events in by_marker.values())
    access = logs.wait_for(lambda e: e["event"] == "request handled", count=REQUESTS)
    assert sorted(line["trace_id"] for line in access) == sorted(expected.values())
