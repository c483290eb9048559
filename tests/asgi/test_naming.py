"""PathRule: which user primitive a request path belongs to."""

from __future__ import annotations

import pytest

from moose_trace.asgi import PathRule


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/ingest/UserEvent", ("ingest", "UserEvent")),
        ("/ingest/UserEvent/0.1", ("ingest", "UserEvent")),
        ("/ingest/", ("ingest", "ingest")),
        ("/ingest", ("ingest", "ingest")),
        ("/consumption/leaderboard", ("api", "leaderboard")),
        ("/consumption/user-pii", ("api", "user-pii")),
        ("/api/users/42", ("api", "users")),
        ("/health", ("api", "health")),
        ("//double//slash", ("api", "double")),
        ("/", ("api", "/")),
        ("/ingestion/x", ("api", "ingestion")),
    ],
)
def test_the_default_rule(path: str, expected: tuple[str, str]) -> None:
    assert PathRule()(path) == expected


def test_prefixes_and_types_are_configurable() -> None:
    rule = PathRule(["/v1/events", "/hooks/"], ["/v1/"], ingest_type="stream", api_type="rpc")
    assert rule("/v1/events/Click") == ("stream", "Click")
    assert rule("/hooks/github") == ("stream", "github")
    assert rule("/v1/orders/7") == ("rpc", "orders")
    assert rule("/status") == ("rpc", "status")


def test_a_prefix_must_be_a_path() -> None:
    with pytest.raises(ValueError, match="starting with '/'"):
        PathRule(["ingest/"])


def test_many_distinct_paths_do_not_grow_the_cache_without_bound() -> None:
    rule = PathRule()
    for number in range(10_000):
        assert rule(f"/api/orders/{number}") == ("api", "orders")
    assert len(rule._cache) <= 4096
