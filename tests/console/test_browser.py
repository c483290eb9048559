"""The console page in Debian's chromium, driven by Playwright, against a real server.

What a person at the page relies on: a line written to a log file shows up in the stream, a
trace draws the right bars in the right nesting, a filter narrows the table, hostile log
content stays text, and a long stream does not grow the page.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import orjson
import pytest
from browser import chromium
from console_corpus import HOSTILE, INSERT, PRODUCE, ROOT, TRACE, TRANSFORM, ConsoleCorpus, iso
from console_server import ConsoleServer

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

STREAM_DEADLINE_MS = 1000
"""The issue's promise: a written line shows in the stream within 1 s."""


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserContext]:
    with chromium() as context:
        yield context


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.dialogs = dialogs  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    assert errors == [], errors
    page.close()


def test_stream_shows_a_line_appended_to_a_log_file_within_a_second(
    console: ConsoleServer, corpus: ConsoleCorpus, page: Page
) -> None:
    page.goto(console.url + "/#/stream")
    page.wait_for_function("() => document.getElementById('stream-status').textContent === 'live'")
    page.wait_for_selector("#stream-rows .row")
    time.sleep(0.3)  # the server's follower takes the files' ends once the socket is open
    corpus.append(
        {"timestamp": iso(datetime.now(timezone.utc)), "level": "error", "event": "fresh line 42"}
    )
    row = page.locator("#stream-rows .row", has_text="fresh line 42")
    row.wait_for(timeout=STREAM_DEADLINE_MS)
    assert "level-error" in (row.locator(".lvl").get_attribute("class") or "")


def test_waterfall_draws_spans_nested_by_parent(console: ConsoleServer, page: Page) -> None:
    page.goto(console.url + f"/#/trace/{TRACE}")
    page.wait_for_selector(".span-row")
    rows = page.locator(".span-row")
    spans = [rows.nth(i).get_attribute("data-span") for i in range(rows.count())]
    depths = [rows.nth(i).get_attribute("data-depth") for i in range(rows.count())]
    assert spans == [ROOT, PRODUCE, TRANSFORM, INSERT]
    assert depths == ["0", "1", "1", "2"]
    boxes = {
        span: page.locator(f'.span-row[data-span="{span}"] .bar').bounding_box() for span in spans
    }
    root, _produce, transform, insert = (boxes[span] for span in spans)
    assert root is not None
    assert transform is not None
    assert insert is not None
    # On one time axis: the request from 0 to 50 ms, the transform from 200 to 300 ms, the
    # failed insert inside the transform.
    assert root["x"] < transform["x"]
    assert transform["width"] == pytest.approx(2 * root["width"], rel=0.05)
    assert transform["x"] <= insert["x"]
    assert insert["x"] + insert["width"] <= transform["x"] + transform["width"] + 1
    assert page.locator(f'.span-row[data-span="{INSERT}"]').get_attribute("data-status") == "error"
    assert "error" in (
        page.locator(f'.span-row[data-span="{INSERT}"] .bar').get_attribute("class") or ""
    )
    assert "layer-storage" in (
        page.locator(f'.span-row[data-span="{INSERT}"] .bar').get_attribute("class") or ""
    )
    assert page.locator(".wf-axis .gap").count() == 1
    page.locator(f'.span-row[data-span="{ROOT}"]').click()
    table = page.locator("#span-events tbody tr")
    assert table.count() == 2
    assert "request handled" in table.nth(1).inner_text()


def test_filter_narrows_the_results_table(console: ConsoleServer, page: Page) -> None:
    page.goto(console.url + "/#/events")
    page.wait_for_function("() => document.querySelectorAll('#events-table tbody tr').length > 30")
    everything = page.locator("#events-table tbody tr").count()
    page.select_option("select[name=level]", "warning+")
    page.fill("input[name=service]", "ingest")
    page.press("input[name=service]", "Enter")
    page.wait_for_function("() => document.querySelectorAll('#events-table tbody tr').length === 3")
    assert "service=ingest" in page.url or "service=ingest" in page.evaluate("location.hash")
    assert everything > 3
    texts = page.locator("#events-table tbody tr").all_inner_texts()
    assert all("warning" in text for text in texts)


def test_hostile_message_renders_as_text_and_runs_nothing(
    console: ConsoleServer, page: Page
) -> None:
    page.goto(console.url + "/#/events?search=onerror")
    cell = page.locator("#events-table tbody td", has_text=HOSTILE)
    cell.wait_for()
    assert cell.inner_text() == HOSTILE
    cell.click()
    page.wait_for_selector("#drawer:not([hidden])")
    assert HOSTILE.replace('"', "") in page.locator("#drawer-body").inner_text()
    page.goto(console.url + "/#/stream?search=onerror")
    page.locator("#stream-rows .row", has_text=HOSTILE).wait_for()
    assert page.locator("img").count() == 0
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_a_hundred_thousand_streamed_lines_keep_the_dom_bounded(
    console: ConsoleServer, corpus: ConsoleCorpus, page: Page
) -> None:
    page.goto(console.url + "/#/stream?search=bulk")
    page.wait_for_function("() => document.getElementById('stream-status').textContent === 'live'")
    time.sleep(0.3)
    stamp = iso(datetime.now(timezone.utc))
    lines = b"".join(
        orjson.dumps({"timestamp": stamp, "level": "info", "event": f"bulk line {index}"}) + b"\n"
        for index in range(100_000)
    )
    (corpus.directory / "bulk-2026-12-08.jsonl").write_bytes(lines)
    page.wait_for_function(
        "() => document.getElementById('stream-count').textContent.startsWith('100000 lines')",
        timeout=120_000,
    )
    rows = page.evaluate("document.querySelectorAll('#stream-rows .row').length")
    nodes = page.evaluate("document.getElementsByTagName('*').length")
    assert rows < 200
    assert nodes < 2000
    page.locator("#stream-rows .row:not([hidden])", has_text="bulk line 99999").wait_for()
    # Scrolled to the top, the first lines are drawn by the same few rows.
    page.locator("#stream").press("Home")
    page.locator("#stream-rows .row:not([hidden])", has_text="bulk line 0").first.wait_for()
    assert page.evaluate("document.querySelectorAll('#stream-rows .row').length") < 200


def test_tenant_box_finds_a_tenant_by_id_or_slug(
    console: ConsoleServer, corpus: ConsoleCorpus, page: Page
) -> None:
    moment = iso(corpus.start)
    for event, tenant in (("acme by id", "tenant_id"), ("acme by slug", "tenant_slug")):
        corpus.append({"timestamp": moment, "level": "info", "event": event, tenant: "acme"})
    corpus.append({"timestamp": moment, "level": "info", "event": "globex", "tenant_id": "globex"})
    page.goto(console.url + "/#/events?tenant=acme")
    page.wait_for_function("() => document.querySelectorAll('#events-table tbody tr').length === 2")
    assert page.input_value("input[name=tenant]") == "acme"
    texts = " ".join(page.locator("#events-table tbody tr").all_inner_texts())
    assert "acme by id" in texts
    assert "acme by slug" in texts
    assert "globex" not in texts
