"""``moose-trace serve``: a live log console in the browser, over the query layer.

The API (``moose_trace.console.api``) and the live stream (``moose_trace.console.stream``) ask
the engines of ``moose-trace logs`` (``moose_trace.query``) — the console has no query code of
its own. The page (``static/``) is plain JavaScript and CSS, shipped in the wheel. Needs the
``console`` extra (Starlette, uvicorn, websockets); ``import moose_trace`` does not load it.
"""

from __future__ import annotations

__all__: list[str] = []
