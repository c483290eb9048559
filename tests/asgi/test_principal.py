"""scope_principal: the principal an app's authentication left in the ASGI scope."""

from __future__ import annotations

from typing import Any

from starlette.authentication import BaseUser, SimpleUser, UnauthenticatedUser

from moose_trace.asgi import scope_principal


class TokenUser(BaseUser):
    """A user class with only ``identity`` (its ``display_name`` raises, as BaseUser's does)."""

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def identity(self) -> str:
        return "svc-42"


def test_state_principal_wins() -> None:
    scope: dict[str, Any] = {"state": {"principal": "a@example.com"}, "user": SimpleUser("b")}
    assert scope_principal(scope) == "a@example.com"


def test_starlette_users() -> None:
    assert scope_principal({"user": SimpleUser("alice")}) == "alice"
    assert scope_principal({"user": UnauthenticatedUser()}) is None
    assert scope_principal({"user": TokenUser()}) == "svc-42"
    assert scope_principal({"user": "bob"}) == "bob"


def test_nothing_there() -> None:
    assert scope_principal({}) is None
    assert scope_principal({"state": {"principal": ""}, "user": ""}) is None
    assert scope_principal({"user": object()}) is None
