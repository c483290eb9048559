"""Who may read the console, and what its pages may do: on a real server, with real requests."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable

import httpx
import pytest
from console_corpus import ConsoleCorpus
from console_server import ConsoleServer
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from moose_trace.console.security import TOKEN_ENV
from moose_trace.console.source import open_source

TOKEN = "s3cret-token-0123456789"


def test_pages_carry_a_strict_content_security_policy(console: ConsoleServer) -> None:
    for path in ("/", "/static/app.js", "/api/events"):
        response = httpx.get(console.url + path, timeout=10)
        assert response.status_code == 200
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert response.headers["x-content-type-options"] == "nosniff"


def test_page_has_no_inline_script_or_style(console: ConsoleServer) -> None:
    html = httpx.get(console.url + "/", timeout=10).text
    assert "<script>" not in html
    assert "<script src=" in html
    assert "<style" not in html
    assert " style=" not in html
    assert " on" + "click=" not in html


def test_script_never_writes_html(console: ConsoleServer) -> None:
    script = httpx.get(console.url + "/static/app.js", timeout=10).text
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script


def test_loopback_console_refuses_other_host_names(console: ConsoleServer) -> None:
    response = httpx.get(
        console.url + "/api/events", headers={"Host": "attacker.example"}, timeout=10
    )
    assert response.status_code == 403
    assert httpx.get(f"http://localhost:{console.port}/api/events", timeout=10).status_code == 200


def test_token_is_checked_on_every_request_and_set_as_cookie(
    corpus: ConsoleCorpus, start_console: Callable[..., ConsoleServer]
) -> None:
    server = start_console(open_source([str(corpus.directory)]), token=TOKEN, loopback=False)
    for path in ("/", "/static/app.js", "/api/events"):
        assert httpx.get(server.url + path, timeout=10).status_code == 401
    wrong = httpx.get(server.url + "/api/events", params={"token": TOKEN + "x"}, timeout=10)
    assert wrong.status_code == 401
    bearer = httpx.get(
        server.url + "/api/events", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    assert bearer.status_code == 200
    with httpx.Client(base_url=server.url, timeout=10) as browser:
        first = browser.get("/", params={"token": TOKEN})
        assert first.status_code == 200
        assert "HttpOnly" in first.headers["set-cookie"]
        assert browser.get("/static/app.js").status_code == 200
        assert browser.get("/api/errors").status_code == 200


def test_websocket_needs_the_token_and_the_same_origin(
    corpus: ConsoleCorpus, start_console: Callable[..., ConsoleServer]
) -> None:
    server = start_console(open_source([str(corpus.directory)]), token=TOKEN, loopback=False)
    with pytest.raises(InvalidStatus):
        connect(server.ws_url + "/api/stream", open_timeout=10).close()
    with pytest.raises(InvalidStatus):
        connect(
            server.ws_url + f"/api/stream?token={TOKEN}",
            origin="http://attacker.example",  # type: ignore[arg-type]
            open_timeout=10,
        ).close()
    with connect(server.ws_url + f"/api/stream?token={TOKEN}", open_timeout=10) as socket:
        socket.ping().wait(5)


def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "moose_trace.commands.serve", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_binding_beyond_loopback_needs_a_token(corpus: ConsoleCorpus) -> None:
    refused = _serve(str(corpus.directory), "--host", "0.0.0.0", env={"PATH": "/usr/bin"})
    assert refused.returncode == 2
    assert "give a token" in refused.stderr
    assert "Traceback" not in refused.stderr
    short = _serve(str(corpus.directory), "--token", "abc")
    assert short.returncode == 2
    assert "bad token" in short.stderr
    assert "--token is visible to other users" in short.stderr  # prefer the variable
    from_env = _serve(
        str(corpus.directory), "--host", "0.0.0.0", env={"PATH": "/usr/bin", TOKEN_ENV: "abc"}
    )
    assert from_env.returncode == 2
    assert "bad token" in from_env.stderr  # the variable is read (and checked) like the flag
    assert "visible to other users" not in from_env.stderr


def test_missing_log_directory_is_one_line_and_exit_2(tmp_path: object) -> None:
    result = _serve("/nonexistent/moose-logs")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "no such file or directory" in result.stderr


def test_assets_are_cached_by_their_hash_and_the_page_revalidates(console: ConsoleServer) -> None:
    page = httpx.get(console.url + "/", timeout=10)
    assert page.headers["cache-control"] == "no-cache"
    script = re.search(r'src="(/static/app\.js\?v=[0-9a-f]+)"', page.text)
    style = re.search(r'href="(/static/style\.css\?v=[0-9a-f]+)"', page.text)
    assert script is not None
    assert style is not None
    for url in (script.group(1), style.group(1)):
        asset = httpx.get(console.url + url, timeout=10)
        assert asset.status_code == 200
        assert "immutable" in asset.headers["cache-control"]
    stale = httpx.get(console.url + "/static/app.js?v=0000", timeout=10)
    assert stale.headers["cache-control"] == "no-cache"  # not the current content: ask again
    revalidate = {"If-None-Match": page.headers["etag"]}
    again = httpx.get(console.url + "/", headers=revalidate, timeout=10)
    assert again.status_code == 304
    assert again.content == b""
