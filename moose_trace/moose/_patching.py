"""Reversible attribute patches: what ``instrument()`` changes, ``uninstrument()`` puts back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Patches"]


@dataclass(frozen=True, slots=True)
class _Patch:
    owner: Any
    name: str
    original: Any
    replacement: Any
    own: bool  # set on the owner itself (else inherited: restoring removes ours)


class Patches:
    """Attributes replaced on classes and modules, restored newest first."""

    __slots__ = ("_applied",)

    def __init__(self) -> None:
        self._applied: list[_Patch] = []

    def replace(self, owner: Any, name: str, replacement: Any) -> Any:
        """Set ``owner.name`` to ``replacement``; return what was there (``AttributeError`` if
        nothing was)."""
        own = name in vars(owner)
        original = vars(owner)[name] if own else getattr(owner, name)
        setattr(owner, name, replacement)
        self._applied.append(_Patch(owner, name, original, replacement, own))
        return original

    def restore_all(self) -> None:
        """Put every original back. One that someone else replaced since is left to them."""
        while self._applied:
            patch = self._applied.pop()
            if vars(patch.owner).get(patch.name) is not patch.replacement:
                continue
            if patch.own:
                setattr(patch.owner, patch.name, patch.original)
            else:
                delattr(patch.owner, patch.name)

    def __bool__(self) -> bool:
        return bool(self._applied)
