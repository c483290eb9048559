"""``traced_api``: an API handler (a consumption endpoint's function), traced as ``type=api``.

Under ``TraceMiddleware`` the handler runs in the request's trace, so its line and every line
it logs carry the request's ``trace_id``; the middleware writes the access line, this the
handler's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

from ._kind import generic_kind
from ._plan import DEFAULT_SLOW_MS
from .core import decorator

__all__ = ["traced_api"]

F = TypeVar("F", bound=Callable[..., Any])

API = generic_kind("api", "webserver")
"""How API handler calls read in the logs: ``api completed`` / ``api failed``."""


@overload
def traced_api(name: F, /) -> F: ...


@overload
def traced_api(
    name: str | None = None,
    *,
    layer: str | None = None,
    slow_ms: float | None = DEFAULT_SLOW_MS,
    **fields: Any,
) -> Callable[[F], F]: ...


def traced_api(
    name: Any = None,
    *,
    layer: str | None = None,
    slow_ms: float | None = DEFAULT_SLOW_MS,
    **fields: Any,
) -> Any:
    """Trace an API handler: ``type=api``, ``name`` (default: the function's), ``layer=webserver``.

    Logs ``api completed`` at info with ``latency_ms`` (warning past ``slow_ms``), or ``api
    failed`` at error with the error fields and re-raises. Works bare (``@traced_api``) too.
    """
    options = decorator(
        API, name=None if callable(name) else name, layer=layer, fields=fields, slow_ms=slow_ms
    )
    return options(name) if callable(name) else options
