"""OpenTelemetry's Kafka instrumentations, for the side-by-side tests (not a dependency).

``opentelemetry-instrumentation-confluent-kafka`` and ``-kafka-python`` (0.66b1, the newest)
pin ``opentelemetry-instrumentation==0.66b1`` exactly, while the dev environment's
``opentelemetry-instrumentation-asgi`` brings 0.66b2: pip cannot install both into one
environment. Their code runs on 0.66b2, so ``python tests/kafka/otel_kafka_env.py`` (``.ci/run``
does) installs the two packages without their pinned dependencies into ``.otel-kafka`` at the
repository root, and the tests put that directory on ``sys.path``. Idempotent.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TARGET = REPO / ".otel-kafka"
PACKAGES = (
    "opentelemetry-instrumentation-confluent-kafka==0.66b1",
    "opentelemetry-instrumentation-kafka-python==0.66b1",
)


def ready() -> bool:
    """Whether both instrumentations are installed in ``TARGET``."""
    base = TARGET / "opentelemetry" / "instrumentation"
    return (base / "confluent_kafka").is_dir() and (base / "kafka").is_dir()


def ensure() -> Path:
    """Install the instrumentations into ``TARGET`` unless they are there; return it."""
    if not ready():
        pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps"]
        subprocess.run(
            [*pip, "--target", str(TARGET), *PACKAGES],
            check=True,
            timeout=600,
        )
    return TARGET


if __name__ == "__main__":
    print(ensure())
