"""Fixtures of the query tests: the story corpus and a way to run the command on it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from query_runner import Run, run_logs
from story_corpus import StoryCorpus, build_story_corpus


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
