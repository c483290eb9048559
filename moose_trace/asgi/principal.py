"""Who the request acted for: the ``principal`` the app's authentication established.

The middleware reads it from the scope after the app has run, so it works with any
authentication that records its result in the scope:

1. ``scope["state"]["principal"]``: set ``request.state.principal = "user@example.com"``
   (Starlette and FastAPI keep ``request.state`` there).
2. ``scope["user"]``, as Starlette's ``AuthenticationMiddleware`` sets it: when authenticated,
   its ``display_name``, else ``identity``; a plain string is taken as it is.

Inside an async handler, ``moose_trace.bind_fields(principal=...)`` works too (the access line
is written in the same context).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["scope_principal"]

_USER_ATTRIBUTES = ("display_name", "identity", "username")


def scope_principal(scope: Mapping[str, Any]) -> str | None:
    """Return the authenticated principal recorded in an ASGI scope, or ``None``; never raises."""
    state = scope.get("state")
    if type(state) is dict or isinstance(state, Mapping):  # (the ABC check only for others)
        named = state.get("principal")
        if isinstance(named, str) and named:
            return named
    user = scope.get("user")
    if user is None:
        return None
    if isinstance(user, str):
        return user or None
    if _attribute(user, "is_authenticated") is not True:
        return None
    for name in _USER_ATTRIBUTES:
        value = _attribute(user, name)
        if isinstance(value, str) and value:
            return value
    return None


def _attribute(user: object, name: str) -> object:
    try:
        return getattr(user, name, None)
    except Exception:  # properties that raise (Starlette's BaseUser.identity) count as missing
        return None
