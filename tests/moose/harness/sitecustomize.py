"""Test harness only — never part of a Moose deployment.

Moose's runner consumes with a consumer group (``KafkaConsumer(group_id=...).subscribe``).
kafka-python cannot join a group on the embedded Tansu broker the tests use (JoinGroup answers
UnknownError; confluent-kafka can join), so on the runner's ``PYTHONPATH`` this module turns
``subscribe([topics])`` into ``assign()`` of every partition of those topics. That is the one
adaptation of the runner's environment in the tests (../shared/DESIGN.md, "Real components in
tests"); the runner's code and moose-trace's hooks run unchanged. Offset commits still go to the
broker as the runner makes them.
"""

from __future__ import annotations

import time

import kafka


def _assign_instead(self, topics=(), pattern=None, listener=None):  # type: ignore[no-untyped-def]
    partitions = []
    for topic in topics:
        deadline = time.monotonic() + 30
        found = self.partitions_for_topic(topic)
        while not found and time.monotonic() < deadline:
            self._client.poll(timeout_ms=100)  # let the metadata for the topic arrive
            found = self.partitions_for_topic(topic)
        partitions += [kafka.TopicPartition(topic, number) for number in sorted(found or {0})]
    self.assign(partitions)


kafka.KafkaConsumer.subscribe = _assign_instead
