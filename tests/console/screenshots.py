"""Screenshots of every console view for docs/console.md, from the logs of a demo run.

    .venv/bin/moose-trace demo --short --log-dir /tmp/demo-logs
    .venv/bin/python tests/console/screenshots.py /tmp/demo-logs docs/console

Starts the console on those logs (a real uvicorn server), opens each view in Debian's
chromium (the browser tests' ``chromium()``) and saves one PNG per view, light and dark.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parents[1]))
sys.path.insert(0, str(Path(__file__).parent))

from browser import chromium
from console_server import ConsoleServer

from moose_trace.console.source import open_source


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("logs", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    server = ConsoleServer(open_source([str(args.logs)])).start()
    try:
        errors = httpx.get(server.url + "/api/errors", timeout=60).json()["groups"]
        traces = [group["trace_id"] for group in errors if group["trace_id"]]
        sizes = {
            trace: httpx.get(server.url + f"/api/traces/{trace}", timeout=60).json()["span_count"]
            for trace in traces
        }
        trace = max(traces, key=lambda each: sizes[each], default="")  # the richest waterfall
        views = [
            ("stream", "#/stream", "#stream-rows .row"),
            ("query", "#/events?level=info%2B", "#events-table tbody tr"),
            ("trace", f"#/trace/{trace}", ".span-row"),
            ("errors", "#/errors", "#errors-table tbody tr"),
            ("histogram", "#/histogram", ".hcol"),
            ("stats", "#/stats", "#stats-table tbody tr"),
        ]
        with chromium() as browser:
            page = browser.new_page()
            page.set_viewport_size({"width": 1400, "height": 800})
            for theme in ("light", "dark"):
                for name, route, ready in views:
                    page.goto(server.url + "/" + route)
                    page.evaluate("(t) => { document.documentElement.dataset.theme = t; }", theme)
                    page.wait_for_selector(ready, timeout=60_000)
                    if name == "trace":
                        page.locator(".span-row").last.click()
                    if name == "query":
                        page.locator("#events-table tbody tr").first.click()
                    time.sleep(0.5)
                    page.screenshot(path=str(args.out / f"{name}-{theme}.png"))
                    page.keyboard.press("Escape")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
