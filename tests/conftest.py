"""Suite-wide test settings: nothing a test does may write to the user's real log directory."""

from __future__ import annotations

import os
import signal
import tempfile

import pytest
from hypothesis import settings

from moose_trace.logging.paths import LOG_DIR_ENV

# Property tests judge answers, not speed: a loaded CI machine must not fail one by hypothesis's
# per-example deadline (speed is measured in benchmarks/). In CI the examples are derived from
# each test (derandomize), so a run repeats the run that was checked before it landed; locally
# they stay random, to keep finding new cases.
settings.register_profile(
    "moose-trace", deadline=None, derandomize=os.environ.get("CI", "").lower() == "true"
)
settings.load_profile("moose-trace")


def pytest_configure(config: pytest.Config) -> None:
    """Point the default log directory at a throwaway folder for the whole run.

    Ctrl-C tests (``--follow``, the demo) send SIGINT: a run started in the background by a
    shell inherits SIGINT ignored, and so would every process it starts. Restore Python's
    handler so those tests judge the code, not how the suite was launched.
    """
    os.environ[LOG_DIR_ENV] = tempfile.mkdtemp(prefix="moose-trace-test-logs-")
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


# --- Kafka: one embedded Tansu broker per test session -------------------------------------------

import itertools  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402

from components import missing_component  # noqa: E402

from moose_trace.testing.broker import BrokerUnavailable, EmbeddedBroker  # noqa: E402

_topic_numbers = itertools.count()


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[EmbeddedBroker]:
    """A started embedded Kafka broker (Tansu, in memory) shared by the whole session.

    No broker: the Kafka and pipeline tests are skipped locally, and fail in CI.
    """
    try:
        broker = EmbeddedBroker().start()
    except BrokerUnavailable as exc:
        missing_component("Kafka broker", exc)
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def kafka_topic(kafka_broker: EmbeddedBroker, request: pytest.FixtureRequest) -> str:
    """A fresh topic with one partition on ``kafka_broker``; its name is unique in the session."""
    stem = "".join(c if c.isalnum() else "-" for c in request.node.name)[:60]
    name = f"{stem}-{next(_topic_numbers)}-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topics([name], partitions=1)
    return name
