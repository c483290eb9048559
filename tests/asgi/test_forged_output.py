"""A hostile request path cannot drive the on-call engineer's terminal (issue 13 §1).

``GET /%1b%5d0%3bpwned%07%1b%5b2J%0a2026-12-07 10:00:00.000 [ERROR] forged`` goes through the
real ``TraceMiddleware`` under uvicorn into the access line; every ``moose-trace logs`` output
mode then shows it escaped on the event's own line, while JSON and CSV keep it exact.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from asgi_apps import starlette_app
from asgi_logs import Logs

from moose_trace._text import unescape_terminal
from moose_trace.commands.logs import main

FORGED_PATH = "/%1b%5d0%3bpwned%07%1b%5b2J%0a2026-12-07 10:00:00.000 [ERROR] forged"
DECODED_PATH = "/\x1b]0;pwned\x07\x1b[2J\n2026-12-07 10:00:00.000 [ERROR] forged"
FORGED_LINE = "2026-12-07 10:00:00.000 [ERROR] forged"
OWN_COLOURS = re.compile("\x1b\\[[0-9;]*m")
TERMINAL_CONTROLS = [chr(code) for code in (*range(0x20), *range(0x7F, 0xA0))]


def _logs_cli(*args: str | Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(arg) for arg in args])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def forged_logs(serve: Callable[[Any], str], logs: Logs) -> Path:
    """A log directory holding the forged request's access line and a forged error event."""
    url = serve(starlette_app())
    response = httpx.get(url + FORGED_PATH, headers={"X-Trace-Id": "0" * 31 + "1"})
    assert response.status_code == 404
    trace_id = response.headers["x-trace-id"]
    access = logs.access(trace_id)
    assert access["http_path"] == DECODED_PATH  # the attack reached the log as it was sent
    structlog.get_logger("tests").error(
        DECODED_PATH, error_message=DECODED_PATH, error_type="Forged\u202eError"
    )
    logs.wait_for(lambda event: event.get("error_message") == DECODED_PATH)
    log_file = logs.setup.log_file()
    assert log_file is not None
    return log_file.parent


def _assert_inert(out: str) -> None:
    """No control character reaches the terminal but our own colours and line ends."""
    for line in OWN_COLOURS.sub("", out).split("\n"):
        assert not any(char in line for char in TERMINAL_CONTROLS), repr(line)
        assert "\u202e" not in line
        assert not line.startswith(FORGED_LINE), "a value printed a line of its own"


@pytest.mark.parametrize(
    "mode",
    [
        (),
        ("--verbose",),
        ("--include-payload", "--include-metrics"),
        ("--group-by", "http_path"),
        ("--group-by", "name,event"),
        ("--errors",),
        ("--histogram", "1m"),
        ("--compare", "before=2d-1d", "after=1d-now"),
        ("--color", "always"),
    ],
)
def test_every_text_mode_shows_the_forged_path_escaped(
    forged_logs: Path, mode: tuple[str, ...]
) -> None:
    code, out, _err = _logs_cli(forged_logs, *mode)
    assert code == 0
    _assert_inert(out)
    if mode[:1] in ((), ("--verbose",), ("--group-by",), ("--color",)):
        assert "\\x1b]0;pwned\\x07\\x1b[2J\\n" + FORGED_LINE in out


def test_trace_shows_the_access_line_on_one_line(forged_logs: Path) -> None:
    _code, listed, _err = _logs_cli(forged_logs, "--format", "json", "--filter", "http_status=404")
    trace_id = json.loads(listed.splitlines()[0])["trace_id"]
    code, out, _err = _logs_cli(forged_logs, "--trace", trace_id, "--flat")
    assert code == 0
    _assert_inert(out)
    (line,) = [line for line in out.splitlines() if "request handled" in line]
    shown_path = line.split("http_path=", 1)[1].split(", ", 1)[0]
    assert unescape_terminal(shown_path) == DECODED_PATH  # escaped reversibly
    for tree_mode in ((), ("--verbose",), ("--color", "always")):
        code, tree, _err = _logs_cli(forged_logs, "--trace", trace_id, *tree_mode)
        assert code == 0
        _assert_inert(tree)
        assert "GET /\\x1b]0;pwned" in tree  # the span's name, escaped


def test_json_and_csv_exports_keep_the_path_exact(forged_logs: Path) -> None:
    _code, out, _err = _logs_cli(forged_logs, "--format", "json", "--filter", "http_status=404")
    (event,) = [json.loads(line) for line in out.splitlines()]
    assert event["http_path"] == DECODED_PATH
    _code, out, _err = _logs_cli(forged_logs, "--format", "csv", "--filter", "http_status=404")
    (row,) = list(csv.DictReader(io.StringIO(out)))
    assert row["http_path"] == DECODED_PATH


def test_an_error_echoing_the_argument_is_escaped(forged_logs: Path) -> None:
    code, out, err = _logs_cli(forged_logs, "--filter", "\x1b[2J=1")
    assert code == 2
    assert out == ""
    assert "\x1b" not in err
    assert err.count("\n") == 1
