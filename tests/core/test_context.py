"""The trace context: binding, restoring, isolation across threads and asyncio tasks."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest
import structlog
from structlog.contextvars import bind_contextvars, get_contextvars, merge_contextvars

from moose_trace.tracing.context import (
    bind_fields,
    current_fields,
    current_parent_span_id,
    current_span_id,
    current_trace_id,
    trace_context,
)
from moose_trace.tracing.ids import new_trace_id


@pytest.fixture(autouse=True)
def _clean_structlog_context() -> None:
    structlog.contextvars.clear_contextvars()


def test_fields_are_visible_to_a_plain_structlog_chain() -> None:
    tid = new_trace_id()
    with trace_context(tid, type="transform", name="foo_to_bar"):
        event = merge_contextvars(None, "info", {"event": "processing"})
        assert current_trace_id() == tid
    assert event == {
        "event": "processing",
        "trace_id": tid,
        "type": "transform",
        "name": "foo_to_bar",
    }
    assert current_trace_id() is None
    assert merge_contextvars(None, "info", {}) == {}


def test_exit_restores_exactly_the_previous_state_even_on_error() -> None:
    bind_contextvars(service="ingest", name="outer")
    before = get_contextvars()

    def fail_inside() -> None:
        with trace_context(new_trace_id(), name="inner", layer="sync"):
            bind_fields(principal="alice")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_inside()
    assert get_contextvars() == before


def test_nested_context_keeps_the_trace_and_links_spans() -> None:
    tid = new_trace_id()
    with trace_context(tid, type="ingest") as outer:
        assert current_parent_span_id() is None
        with trace_context(name="inner") as inner:
            assert inner.trace_id == tid
            assert current_span_id() == inner.span_id != outer.span_id
            assert current_parent_span_id() == outer.span_id
            assert current_fields() == {"trace_id": tid, "type": "ingest", "name": "inner"}
        assert current_span_id() == outer.span_id
        assert current_fields() == {"trace_id": tid, "type": "ingest"}


def test_none_outside_a_context_makes_a_new_id_and_invalid_ids_are_replaced() -> None:
    with trace_context() as made:
        assert current_trace_id() == made.trace_id
    with trace_context("evil\r\nX-Injected: 1") as replaced:
        assert current_trace_id() == replaced.trace_id
        assert "evil" not in replaced.trace_id
    assert made.trace_id != replaced.trace_id


def test_a_trace_id_bound_by_other_means_is_validated_when_a_context_takes_it() -> None:
    # Every context's trace id is canonical: one bound with structlog's own API is checked
    # when a context inherits it (the log line trusts the context's id, see the redactor).
    tid = new_trace_id()
    bind_contextvars(trace_id=tid.upper())
    with trace_context(type="t") as upper:
        assert upper.trace_id == tid
    bind_contextvars(trace_id="sk_live_4eC39HqLyjWDarjtT1zdp7dc")
    with trace_context(type="t") as replaced:
        assert "sk_live" not in replaced.trace_id
        assert current_trace_id() == replaced.trace_id
        with trace_context(name="inner") as inner:  # the enclosing context's id is taken as is
            assert inner.trace_id is replaced.trace_id


def test_span_ids_are_distinct_and_never_all_zeros() -> None:
    made = set()
    for _ in range(3000):  # several batches of ids made ahead
        with trace_context() as ctx:
            made.add(ctx.span_id)
    assert len(made) == 3000
    assert all(len(span) == 16 and int(span, 16) for span in made)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork does not exist on this platform")
def test_a_forked_child_makes_span_ids_of_its_own() -> None:
    with trace_context() as warm:
        assert warm.span_id  # the ids made ahead are there now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first span id, to the parent
        try:
            with trace_context() as child:
                os.write(write, child.span_id.encode())
        finally:
            os._exit(0)
    os.close(write)
    child_span = os.read(read, 16).decode()
    os.close(read)
    os.waitpid(pid, 0)
    with trace_context() as parent:
        assert len(child_span) == 16
        assert child_span != parent.span_id


def test_incoming_forms_are_normalized() -> None:
    tid = new_trace_id()
    with trace_context(tid.replace("-", "").upper()):
        assert current_trace_id() == tid


def test_span_id_is_sixteen_hex_digits_or_the_one_given() -> None:
    with trace_context() as ctx:
        assert len(ctx.span_id) == 16
        int(ctx.span_id, 16)
    with trace_context(span_id="00f067aa0ba902b7") as ctx:
        assert current_span_id() == "00f067aa0ba902b7"


def test_bind_fields_lasts_until_the_context_exits() -> None:
    with trace_context(new_trace_id()):
        bind_fields(principal="user@example.com", auth="success")
        assert current_fields()["principal"] == "user@example.com"
    assert "principal" not in current_fields()
    assert "auth" not in current_fields()


async def test_async_with_and_tasks_each_see_their_own_trace() -> None:
    seen: dict[str, list[str | None]] = {}

    async def handle(tid: str) -> None:
        async with trace_context(tid, name=tid[-4:]):
            for _ in range(5):
                await asyncio.sleep(0)
                seen.setdefault(tid, []).append(current_trace_id())
                assert current_fields()["name"] == tid[-4:]

    ids = [new_trace_id() for _ in range(50)]
    await asyncio.gather(*(handle(tid) for tid in ids))
    assert all(values == [tid] * 5 for tid, values in seen.items())
    assert current_trace_id() is None


def test_threads_each_see_their_own_trace_and_nothing_leaks() -> None:
    errors: list[str] = []
    barrier = threading.Barrier(8)

    def work() -> None:
        tid = new_trace_id()
        with trace_context(tid):
            barrier.wait()
            if current_trace_id() != tid:
                errors.append("mixed")
        if current_trace_id() is not None:
            errors.append("leaked")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


async def test_field_bound_in_a_child_task_does_not_break_the_parent_exit() -> None:
    async with trace_context(new_trace_id()):
        await asyncio.create_task(asyncio.to_thread(lambda: None))

        async def child() -> None:
            bind_fields(records=3)

        await asyncio.create_task(child())
    assert current_fields() == {}


async def test_a_child_tasks_field_among_the_parents_own_still_restores_everything() -> None:
    bind_contextvars(principal="outer")
    async with trace_context(new_trace_id(), name="parent"):

        async def child() -> None:
            bind_fields(records=3)  # lives in the child task's context only

        await asyncio.create_task(child())
        bind_fields(principal="alice", stage="after the child")  # the parent's, bound later
        assert current_fields()["principal"] == "alice"
    assert current_fields() == {"principal": "outer"}
