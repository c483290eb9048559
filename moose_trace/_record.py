"""``@record``: frozen value classes that cost microseconds, not a millisecond, to define.

``@dataclass(frozen=True)`` writes and compiles Python source for the ``__init__``,
``__repr__``, ``__eq__``, ``__hash__``, ``__setattr__`` and ``__delattr__`` of every class it
decorates: about 1 ms a class on the machine the benchmarks run on (a micro-benchmark of 200
class definitions). The query tool defines dozens of small
value classes (the query AST, the results), so a short command such as ``moose-trace logs
--trace ID`` spent more time defining classes than finding the trace. ``@record`` gives the
same behaviour from methods shared by every record class, so defining one costs about as much as
a plain ``class`` statement.

What a record class gets, from its own annotated attributes in order (``ClassVar`` ones
excepted; a class attribute of the same name is the default):

- ``__init__`` taking the fields positionally or by name; defaults must be immutable (a
  ``list``, ``dict`` or ``set`` default is refused at definition, as dataclasses do);
- equality with instances of the very same class, field by field, and a matching hash;
- ``repr`` as ``Name(field=value, ...)``;
- immutability: setting or deleting an attribute raises ``AttributeError``;
- ``__match_args__`` for ``match`` statements;
- a ``__post_init__`` method, if the class has one, runs after the fields are set (it may
  replace a field's value with ``object.__setattr__``).

Type checkers see a frozen dataclass (PEP 681 ``dataclass_transform``). Construction costs a
little more than a dataclass's generated ``__init__``, so per-line objects on hot paths are
plain classes instead.

The rule, checked by ``tests/core/test_record.py``: a value class in a module that
``moose-trace logs`` or ``moose-trace serve`` imports to start (the query tool: ``query``,
``console``, ``commands.logs``, and ``store.retention`` below them) is a ``@record``; everywhere
else (the SDK, the integrations, the writer, the demo) ``@dataclass`` is the idiom, since their
classes are defined once in a long-running process where a millisecond does not show.
"""

from __future__ import annotations

TYPE_CHECKING = False  # ``typing.TYPE_CHECKING`` without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from typing import Any, TypeVar

    from typing_extensions import dataclass_transform

    _T = TypeVar("_T")
else:

    def dataclass_transform(**_options: object) -> object:
        return lambda decorator: decorator


__all__ = ["is_record", "record", "record_values"]

_MUTABLE_DEFAULTS = (list, dict, set, bytearray)


def _is_class_var(annotation: object) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar"))


def _fields_of(cls: type) -> tuple[tuple[str, ...], dict[str, Any]]:
    names: list[str] = []
    defaults: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        inherited: tuple[str, ...] = klass.__dict__.get("__record_fields__", ())
        if klass is not cls and inherited:
            names.extend(name for name in inherited if name not in names)
            defaults.update(klass.__dict__["__record_defaults__"])
    # inspect.get_annotations would import inspect (~10 ms): the module this one exists to avoid
    own = cls.__dict__.get("__annotations__", {})  # noqa: RUF063
    for name, annotation in own.items():
        if _is_class_var(annotation):
            continue
        if name not in names:
            names.append(name)
        if name in cls.__dict__:
            default = cls.__dict__[name]
            if isinstance(default, _MUTABLE_DEFAULTS):
                raise TypeError(
                    f"{cls.__name__}.{name}: mutable default {type(default).__name__} "
                    "is shared by every instance; use an immutable value"
                )
            defaults[name] = default
        elif defaults:
            raise TypeError(f"{cls.__name__}.{name}: a field without a default follows one with")
    return tuple(names), defaults


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    cls = type(self)
    names: tuple[str, ...] = cls.__record_fields__
    if len(args) > len(names):
        raise TypeError(
            f"{cls.__name__}() takes {len(names)} positional arguments but {len(args)} were given"
        )
    setter = object.__setattr__
    for name, value in zip(names, args, strict=False):
        setter(self, name, value)
    defaults: dict[str, Any] = cls.__record_defaults__
    for name in names[len(args) :]:
        if name in kwargs:
            setter(self, name, kwargs.pop(name))
        elif name in defaults:
            setter(self, name, defaults[name])
        else:
            raise TypeError(f"{cls.__name__}() missing required argument: {name!r}")
    if kwargs:
        unknown = next(iter(kwargs))
        problem = "got multiple values for argument" if unknown in names else "got an unexpected"
        raise TypeError(f"{cls.__name__}() {problem} {unknown!r}")
    post_init = getattr(self, "__post_init__", None)
    if post_init is not None:
        post_init()


def is_record(value: object) -> bool:
    """Return whether ``value`` is an instance of a ``@record`` class."""
    return hasattr(type(value), "__record_fields__")


def record_values(value: Any) -> dict[str, Any]:
    """Return a record's fields and values in order (like ``dataclasses.asdict``, not deep)."""
    return {name: getattr(value, name) for name in type(value).__record_fields__}


def _values(self: Any) -> tuple[Any, ...]:
    return tuple(getattr(self, name) for name in type(self).__record_fields__)


def _eq(self: Any, other: object) -> Any:
    if type(other) is not type(self):
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self: Any) -> int:
    return hash((type(self).__qualname__, *_values(self)))


def _repr(self: Any) -> str:
    fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in type(self).__record_fields__)
    return f"{type(self).__qualname__}({fields})"


def _frozen(self: Any, name: str, *_value: Any) -> None:
    raise AttributeError(f"cannot assign or delete field {name!r} of a {type(self).__name__}")


@dataclass_transform(eq_default=True, frozen_default=True)
def record(cls: type[_T]) -> type[_T]:
    """Make ``cls`` a frozen value class over its annotated attributes (see the module doc)."""
    own = [name for name in ("__init__", "__eq__", "__setattr__") if name in cls.__dict__]
    if own:
        raise TypeError(f"{cls.__name__}: a @record class gets {', '.join(own)} from @record")
    names, defaults = _fields_of(cls)
    for name in defaults:
        if name in cls.__dict__:
            delattr(cls, name)
    extra = {
        "__record_fields__": names,
        "__record_defaults__": defaults,
        "__match_args__": names,
        "__init__": _init,
        "__eq__": _eq,
        "__hash__": _hash,
        "__setattr__": _frozen,
        "__delattr__": _frozen,
    }
    if "__repr__" not in cls.__dict__:
        extra["__repr__"] = _repr
    for attribute, value in extra.items():
        setattr(cls, attribute, value)
    return cls
