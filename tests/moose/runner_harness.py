"""Start and stop Moose's streaming runner as the Moose CLI does, inside the test harness."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

HARNESS = Path(__file__).parent / "harness"
"""Holds the test-only ``sitecustomize.py`` put on the runner's ``PYTHONPATH`` (see there)."""


def topic_json(name: str) -> str:
    """A topic argument as the Moose CLI passes it to the runner (``KafkaTopicConfig``)."""
    return json.dumps(
        {
            "streaming_engine_type": "Kafka",
            "name": name,
            "partitions": 1,
            "retention_ms": 86_400_000,
            "max_message_bytes": 1_048_576,
            "namespace": None,
            "version": None,
        }
    )


def start_runner(
    python: Path,
    app_dir: Path,
    broker: str,
    source: str,
    *,
    management_port: int,
    out_dir: Path,
    target: str | None = None,
    dlq: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``python -m moose_lib.streaming.streaming_function_runner`` as the Moose CLI does.

    stdout and stderr go to ``<out_dir>/<source>-><target>.stdout|stderr``.
    """
    command = [
        str(python),
        "-m",
        "moose_lib.streaming.streaming_function_runner",
        topic_json(source),
        str(app_dir),
        "main",
        broker,
    ]
    if target is not None:
        command += ["--target_topic_json", topic_json(target)]
    if dlq is not None:
        command += ["--dlq_topic_json", topic_json(dlq)]
    stem = out_dir / f"{source}-{target or 'consumer'}"
    full_env = {
        **os.environ,
        "PYTHONPATH": str(HARNESS),
        "MOOSE_MANAGEMENT_PORT": str(management_port),
        **(env or {}),
    }
    with open(f"{stem}.stdout", "wb") as stdout, open(f"{stem}.stderr", "wb") as stderr:
        return subprocess.Popen(command, stdout=stdout, stderr=stderr, env=full_env, cwd=app_dir)


def stop_runner(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """SIGTERM (the runner's own graceful shutdown), then SIGKILL if it hangs."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    return process.returncode
