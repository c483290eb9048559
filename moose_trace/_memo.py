"""``memo(limit)``: remember a function's answers by its arguments, at most ``limit`` of them.

``functools.lru_cache`` does the same, but importing ``functools`` (with ``collections``) costs a
command's start-up more than an indexed ``moose-trace logs --trace`` spends on its own work, and
the functions kept here see the same few arguments again and again (key sets, a log's days), so
forgetting all of them when full is as good as forgetting the oldest.
"""

from __future__ import annotations

TYPE_CHECKING = False  # ``typing.TYPE_CHECKING`` without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["memo"]


def memo(limit: int) -> Callable[[F], F]:
    """Decorate a function of hashable positional arguments to remember ``limit`` answers."""

    def decorate(function: F) -> F:
        kept: dict[Any, Any] = {}

        def remembered(*arguments: Any) -> Any:
            try:
                return kept[arguments]
            except KeyError:
                pass
            if len(kept) >= limit:
                kept.clear()
            answer = kept[arguments] = function(*arguments)
            return answer

        remembered.__doc__ = function.__doc__
        remembered.__name__ = function.__name__
        remembered.__qualname__ = function.__qualname__
        remembered.__wrapped__ = function  # type: ignore[attr-defined]
        return remembered  # type: ignore[return-value]

    return decorate
