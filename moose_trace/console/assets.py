"""The page and its files as browsers should cache them.

The page (``index.html``) names its script and style sheet with a hash of their content
(``/static/app.js?v=3f2a…``): a browser keeps those a year without asking again
(``immutable``), and another version of the package names other URLs. The page itself is
asked again on each load (``no-cache``) with its ``ETag``: unchanged, it answers 304, no body.
So a second visit paints from the browser's cache after one small request.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = ["ASSETS", "IMMUTABLE", "ConsolePage", "VersionedAssets", "asset_versions"]

ASSETS = ("app.js", "style.css")
"""The files the page names, each with its content's hash."""

IMMUTABLE = "public, max-age=31536000, immutable"
"""``Cache-Control`` of an asset asked by its hashed URL."""


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def asset_versions(directory: Path) -> dict[str, str]:
    """Return each asset's content hash (its URL's ``v``)."""
    return {name: _digest((directory / name).read_bytes()) for name in ASSETS}


class ConsolePage:
    """``GET /``: the page with hashed asset URLs, revalidated by its ``ETag``."""

    def __init__(self, directory: Path, versions: dict[str, str]) -> None:
        html = (directory / "index.html").read_text(encoding="utf-8")
        for name, version in versions.items():
            html = html.replace(f'"/static/{name}"', f'"/static/{name}?v={version}"')
        self.body = html.encode()
        self.etag = f'"{_digest(self.body)}"'

    async def respond(self, request: Request) -> Response:
        """Answer a request for the page."""
        headers = {"ETag": self.etag, "Cache-Control": "no-cache"}
        asked = request.headers.get("if-none-match", "")
        if self.etag in (tag.strip() for tag in asked.split(",")):
            return Response(status_code=304, headers=headers)
        return Response(self.body, media_type="text/html; charset=utf-8", headers=headers)


class VersionedAssets(StaticFiles):
    """The static files: kept a year when asked by their current hash, else revalidated."""

    def __init__(self, directory: Path, versions: dict[str, str]) -> None:
        super().__init__(directory=directory)
        self.versions = versions

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        """Return the file, with the ``Cache-Control`` its URL earns."""
        response = super().file_response(full_path, stat_result, scope, status_code)
        asked = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("v", [""])[-1]
        current = self.versions.get(Path(full_path).name)
        response.headers["Cache-Control"] = (
            IMMUTABLE if current is not None and asked == current else "no-cache"
        )
        return response
