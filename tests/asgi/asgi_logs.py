"""``Logs``: the JSON lines the ASGI tests' logging setup has written (shared by the tests)."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

import orjson

from moose_trace.logging.config import LoggingSetup

ACCESS_EVENTS = ("request handled", "request failed", "request cancelled")


class Logs:
    """The JSON lines written since the ``logs`` fixture configured logging."""

    def __init__(self, setup: LoggingSetup, stream: io.StringIO) -> None:
        self.setup = setup
        self.stream = stream
        self._parsed: list[dict[str, Any]] = []
        self._offset = 0

    def lines(self) -> list[dict[str, Any]]:
        text = self.stream.getvalue()
        end = text.rfind("\n") + 1  # a line being written by the server thread waits
        self._parsed += [orjson.loads(line) for line in text[self._offset : end].splitlines()]
        self._offset = end
        return list(self._parsed)

    def file_lines(self) -> list[dict[str, Any]]:
        path = self.setup.log_file()
        assert path is not None
        data = path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]  # a line being appended waits
        return [orjson.loads(line) for line in complete.splitlines()]

    def wait_for(
        self,
        predicate: Callable[[dict[str, Any]], bool],
        count: int = 1,
        timeout: float = 60.0,
        *,
        in_file: bool = False,
    ) -> list[dict[str, Any]]:
        """Return the lines matching ``predicate`` once there are ``count`` of them.

        The access line is written after the response has gone out, so a test that has its
        response may still have to wait a moment for the line. ``in_file``: in the daily file
        (written just after stdout), not stdout.
        """
        deadline = time.monotonic() + timeout
        while True:
            lines = self.file_lines() if in_file else self.lines()
            found = [line for line in lines if predicate(line)]
            if len(found) >= count or time.monotonic() > deadline:
                assert len(found) >= count, f"expected {count} matching lines, got {found}"
                return found
            time.sleep(0.01)

    def access(self, trace_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Return the one access line of the request with ``trace_id``."""
        (line,) = self.wait_for(
            lambda e: e.get("event") in ACCESS_EVENTS and e.get("trace_id") == trace_id,
            timeout=timeout,
        )
        return line
