"""Fixtures of the query tests: the story corpus and a way to run the command on it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from query_runner import Run, run_logs
from story_corpus import StoryCorpus, build_story_corpus

from moose_trace.query import parallel_scan


@pytest.fixture
def stories(tmp_path: Path) -> StoryCorpus:
    """The corpus holding every user story's situation, written just now (so ``--since`` windows
    in a test see exactly what the story placed in them)."""
    return build_story_corpus(tmp_path / "logs")


@pytest.fixture
def logs(stories: StoryCorpus) -> Callable[..., Run]:
    """Run ``moose-trace logs`` on the story corpus."""

    def run(*args: str) -> Run:
        return run_logs(stories.directory, *args)

    return run


@pytest.fixture
def split_scans(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make every byte scan worth splitting across processes; list the workers forked."""
    monkeypatch.setattr(parallel_scan, "PARALLEL_BYTES", 1)
    monkeypatch.setattr(parallel_scan, "_cores", lambda: 2)
    monkeypatch.setattr(parallel_scan, "_threads_running", lambda: False)
    forks: list[int] = []
    fork = os.fork

    def counted() -> int:
        pid = fork()
        if pid:
            forks.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", counted)
    return forks
