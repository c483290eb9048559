"""``@record``: the query tool's value classes behave like frozen dataclasses."""

from __future__ import annotations

import subprocess
import sys
from typing import ClassVar

import pytest

from moose_trace._record import is_record, record, record_values


@record
class Point:
    x: int
    y: int = 0
    label: str = "p"
    registry: ClassVar[dict[str, int]] = {}


@record
class Other:
    x: int
    y: int = 0
    label: str = "p"


@record
class Checked:
    low: int
    high: int = 0

    def __post_init__(self) -> None:
        if self.high == 0:
            object.__setattr__(self, "high", self.low)
        if self.high < self.low:
            raise ValueError("high below low")


def test_fields_positional_keyword_and_defaults() -> None:
    assert record_values(Point(1)) == {"x": 1, "y": 0, "label": "p"}
    assert record_values(Point(1, label="q", y=2)) == {"x": 1, "y": 2, "label": "q"}
    assert Point.__match_args__ == ("x", "y", "label")


def test_equality_and_hash_by_value_within_one_class() -> None:
    assert Point(1, 2) == Point(1, 2)
    assert Point(1, 2) != Point(1, 3)
    assert hash(Point(1, 2)) == hash(Point(1, 2))
    assert len({Point(1, 2), Point(1, 2), Point(2, 2)}) == 2
    assert Point(1, 2) != Other(1, 2)
    assert Point(1) != (1, 0, "p")


def test_instances_are_immutable() -> None:
    point = Point(1)
    with pytest.raises(AttributeError, match="'x'"):
        point.x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del point.y  # type: ignore[misc]
    assert point.x == 1


def test_repr_names_the_fields() -> None:
    assert repr(Point(1, label="a")) == "Point(x=1, y=0, label='a')"


def test_wrong_arguments_are_type_errors() -> None:
    with pytest.raises(TypeError, match="missing required argument: 'x'"):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="takes 3 positional arguments but 4"):
        Point(1, 2, "a", 4)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected 'z'"):
        Point(1, z=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="multiple values for argument 'x'"):
        Point(1, x=2)  # type: ignore[misc]


def test_post_init_runs_and_may_normalize() -> None:
    assert Checked(3).high == 3
    with pytest.raises(ValueError, match="below"):
        Checked(3, 1)


def test_class_vars_are_not_fields() -> None:
    assert "registry" not in record_values(Point(1))
    assert Point.registry == {}


def test_mutable_defaults_and_field_order_are_refused() -> None:
    with pytest.raises(TypeError, match="mutable default list"):

        @record
        class Bad:
            items: list[int] = []  # noqa: RUF012

    with pytest.raises(TypeError, match="without a default follows"):

        @record
        class Unordered:
            a: int = 0
            b: int  # type: ignore[misc]


def test_methods_record_provides_cannot_be_defined_by_the_class() -> None:
    with pytest.raises(TypeError, match="gets __eq__ from @record"):

        @record
        class OwnEquality:
            x: int

            def __eq__(self, other: object) -> bool:
                return True

            __hash__ = None  # type: ignore[assignment]


def test_is_record() -> None:
    assert is_record(Point(1))
    assert not is_record(Point)
    assert not is_record((1, 2))


@pytest.mark.parametrize(
    "command_module", ["moose_trace.commands.logs", "moose_trace.commands.serve"]
)
def test_what_the_query_commands_load_to_start_defines_no_dataclass(command_module: str) -> None:
    # The rule stated in moose_trace/_record.py: start-up of `logs` and `serve` pays for no
    # dataclass definition (about a millisecond each); their value classes are records.
    code = (
        "import dataclasses, inspect, sys\n"
        f"import {command_module}\n"
        "found = sorted(\n"
        "    f'{name}.{cls.__name__}'\n"
        "    for name, module in list(sys.modules.items()) if name.startswith('moose_trace')\n"
        "    for cls in vars(module).values()\n"
        "    if inspect.isclass(cls) and cls.__module__ == name and dataclasses.is_dataclass(cls)\n"
        ")\n"
        "print(found)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
