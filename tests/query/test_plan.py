"""Planning a ``moose-trace logs`` question: one query, where to look, and the request untouched."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from moose_trace.query.ast import AllOf, Comparison, ListEvents, Search
from moose_trace.query.exceptions import QueryError
from moose_trace.query.plan import QueryRequest, plan_query

NOW = datetime(2026, 1, 9, 12, 0, tzinfo=timezone.utc)


def test_a_bare_word_is_a_search_and_compare_names_more_sources(tmp_path: Path) -> None:
    logs = tmp_path / "a.jsonl"
    logs.write_text("")
    request = QueryRequest(
        sources=(str(logs), "timeout"),
        filter=("type=transform",),
        compare=("before=2d-1d", "after=1d-now", str(tmp_path)),
    )
    plan = plan_query(request, NOW)
    assert plan.sources == (str(logs), str(tmp_path))
    assert isinstance(plan.query.mode, Comparison)
    assert isinstance(plan.query.where, AllOf)
    assert any(isinstance(part, Search) for part in plan.query.where.items)
    assert plan.title == "type=transform, search 'timeout'"
    assert request.sources == (str(logs), "timeout")  # planning changes nothing it was given


def test_the_time_range_asked_for_is_the_plan_s_span() -> None:
    plan = plan_query(QueryRequest(since="2026-01-09T11:00:00Z", limit=5), NOW)
    assert plan.query.mode == ListEvents(5)
    assert plan.span == (int(datetime(2026, 1, 9, 11, tzinfo=timezone.utc).timestamp() * 1e6), None)


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (QueryRequest(search=("",)), "--search needs some text"),
        (QueryRequest(follow=True, group_by="layer"), "--follow shows events as they come"),
        (QueryRequest(follow=True, format="csv"), "--follow cannot write csv"),
    ],
)
def test_a_question_that_cannot_be_asked_is_refused_with_why(
    request_: QueryRequest, message: str
) -> None:
    with pytest.raises(QueryError, match=message):
        plan_query(request_, NOW)
