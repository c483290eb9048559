"""Which user primitive a request belongs to: its ``type`` and ``name`` from the request path.

Moose serves ingest endpoints under ``/ingest/<DataModel>`` and consumption APIs under
``/consumption/<api>`` (newer apps: ``/api/<api>``), so ``PathRule`` maps ``/ingest/UserEvent`` to
``("ingest", "UserEvent")`` and ``/consumption/leaderboard`` to ``("api", "leaderboard")``: the
first path segment after the prefix, which stays low-cardinality when later segments hold ids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["PathClassifier", "PathRule", "route_template"]

PathClassifier = Callable[[str], tuple[str, str]]
"""What ``TraceMiddleware(rule=...)`` takes: a request path → ``(type, name)``."""

_MAX_CACHED = 4096


class PathRule:
    """Classify a request path as ``(type, name)``: ingest under the ingest prefixes, else api.

    ``ingest_prefixes`` (default ``("/ingest/",)``) give ``type="ingest"``; everything else is
    ``type="api"``, with ``api_prefixes`` (default ``("/consumption/", "/api/")``) removed before
    the name is taken. The name is the first path segment after the prefix (``/ingest/UserEvent/
    0.1`` → ``UserEvent``; ``/api/users/42`` → ``users``); a path with no segment left is named
    after its prefix (``/ingest/`` → ``ingest``), and ``/`` is named ``/``. Results are cached.
    """

    __slots__ = ("_api_prefixes", "_api_type", "_cache", "_ingest_prefixes", "_ingest_type")

    def __init__(
        self,
        ingest_prefixes: Iterable[str] = ("/ingest/",),
        api_prefixes: Iterable[str] = ("/consumption/", "/api/"),
        *,
        ingest_type: str = "ingest",
        api_type: str = "api",
    ) -> None:
        self._ingest_prefixes = _prefixes(ingest_prefixes, "ingest_prefixes")
        self._api_prefixes = _prefixes(api_prefixes, "api_prefixes")
        self._ingest_type = ingest_type
        self._api_type = api_type
        self._cache: dict[str, tuple[str, str]] = {}

    def __repr__(self) -> str:
        return (
            f"PathRule(ingest_prefixes={self._ingest_prefixes!r}, "
            f"api_prefixes={self._api_prefixes!r})"
        )

    def __call__(self, path: str) -> tuple[str, str]:
        """Return ``(type, name)`` for a request path."""
        found = self._cache.get(path)
        if found is None:
            found = self._classify(path)
            cache = self._cache
            if len(cache) >= _MAX_CACHED:  # paths with ids in them: never grow without bound
                cache.clear()
            cache[path] = found
        return found

    def _classify(self, path: str) -> tuple[str, str]:
        for prefix in self._ingest_prefixes:
            if path.startswith(prefix) or path == prefix[:-1]:
                return self._ingest_type, _first_segment(path[len(prefix) :], prefix)
        for prefix in self._api_prefixes:
            if path.startswith(prefix) or path == prefix[:-1]:
                return self._api_type, _first_segment(path[len(prefix) :], prefix)
        return self._api_type, _first_segment(path, "/")


def _prefixes(values: Iterable[str], argument: str) -> tuple[str, ...]:
    if isinstance(values, str):
        values = (values,)
    prefixes = []
    for value in values:
        if not isinstance(value, str) or not value.startswith("/"):
            raise ValueError(f"PathRule {argument} must be paths starting with '/', not {value!r}")
        prefixes.append(value if value.endswith("/") else value + "/")
    return tuple(prefixes)


def _first_segment(rest: str, prefix: str) -> str:
    for segment in rest.split("/"):
        if segment:
            return segment
    return prefix.strip("/").rpartition("/")[2] or "/"


def route_template(scope: Mapping[str, Any]) -> str | None:
    """Return the route template a framework matched (Starlette, FastAPI), or ``None``."""
    route = scope.get("route")
    if route is None:
        return None
    template = getattr(route, "path", None)
    if not isinstance(template, str):
        return None
    mount = scope.get("root_path") or ""
    return mount + template if mount and not template.startswith(mount) else template
