"""The demo's deployments: topics and tables planned, validated and changed under a lock (US-7).

``deploy`` compares the tables the app declares with the tables that exist, logs each change in
phase ``planning``, checks them in ``validation`` (no column dropped or retyped), then in
``execution`` takes the leadership lock (an exclusive ``flock`` on a file, so two demo instances
never change the same tables at once), runs the real DDL on the OLAP engine and releases the
lock. ``ensure_topics`` creates the Kafka topics the same way, in layer ``streaming``.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from moose_trace.demo.table import OlapStore
from moose_trace.tracing.context import trace_context

__all__ = [
    "Change",
    "TableSpec",
    "deploy",
    "ensure_topics",
    "kafka_logger",
    "leadership_lock",
    "plan",
]

_log = structlog.get_logger("moose_trace.demo.deploy")
LOCK_ID = "infra_ddl"


@dataclass(frozen=True)
class TableSpec:
    """A table as the app declares it: columns in ClickHouse types, and the sort key."""

    name: str
    columns: tuple[tuple[str, str], ...]
    order_by: str


@dataclass(frozen=True)
class Change:
    """One planned change: ``create_table`` or ``add_column`` (with the column and its type)."""

    operation: str
    table: TableSpec
    column: str = ""
    type: str = ""

    def describe(self) -> str:
        """Return the change as the plan shows it."""
        if self.operation == "add_column":
            return f'add_column "{self.column}" {self.type}'
        return f"create_table {self.table.name}"


def plan(store: OlapStore, tables: Sequence[TableSpec]) -> list[Change]:
    """Return the changes that bring the existing tables to the declared ones."""
    changes: list[Change] = []
    for table in tables:
        existing = store.columns(table.name)
        if not existing:
            changes.append(Change("create_table", table))
            continue
        changes.extend(
            Change("add_column", table, column, type_)
            for column, type_ in table.columns
            if column not in existing
        )
    return changes


def _validate(store: OlapStore, tables: Sequence[TableSpec]) -> None:
    for table in tables:
        declared = {column for column, _type in table.columns}
        dropped = [column for column in store.columns(table.name) if column not in declared]
        if dropped:
            raise ValueError(
                f"table {table.name} would lose columns {dropped}: the demo never drops columns"
            )


@contextlib.contextmanager
def leadership_lock(path: Path, instance_id: str) -> Iterator[None]:
    """Hold the exclusive DDL lock (``flock`` on ``path``) for the block, logging both ends."""
    started = time.perf_counter()
    with open(path, "a+b") as handle, trace_context(type="lock", name=LOCK_ID, phase="execution"):
        fcntl.flock(handle, fcntl.LOCK_EX)
        _log.debug(
            "lock acquired",
            operation="lock_acquire",
            lock_id=LOCK_ID,
            instance_id=instance_id,
            status="acquired",
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
        )
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            _log.debug(
                "lock released",
                operation="lock_release",
                lock_id=LOCK_ID,
                instance_id=instance_id,
                status="released",
            )


def _ddl(store: OlapStore, change: Change) -> str:
    table = change.table
    if change.operation == "add_column":
        store.add_column(table.name, change.column, change.type)
        return f"ALTER TABLE {table.name} ADD COLUMN {change.column} {change.type}"
    store.create_table(table.name, table.columns, table.order_by)
    columns = ", ".join(f"{name} {type_}" for name, type_ in table.columns)
    return f"CREATE TABLE {table.name} ({columns}) ORDER BY {table.order_by}"


def deploy(
    store: OlapStore, tables: Sequence[TableSpec], lock_path: Path, version: str
) -> list[Change]:
    """Plan, validate and apply the table changes of app ``version``; return what was applied."""
    instance_id = f"{socket.gethostname()}-{os.getpid()}"
    with trace_context(service="demo-deploy", layer="storage", version=version):
        with trace_context(phase="planning"):
            changes = plan(store, tables)
            for table in {change.table.name: change.table for change in changes}.values():
                _log.info(f"Detected schema change for table {table.name}", table=table.name)
            for change in changes:
                _log.info(f"Change: {change.describe()}", table=change.table.name)
            if not changes:
                _log.info("No schema change", tables=len(tables))
                return []
        with trace_context(phase="validation"):
            _validate(store, tables)
            _log.info("Pre-flight checks passed", changes=len(changes))
        with trace_context(phase="execution"):
            _log.info("Acquiring leadership lock", lock_id=LOCK_ID)
            with leadership_lock(lock_path, instance_id):
                for change in changes:
                    _apply(store, change)
                _log.info("Releasing leadership lock", lock_id=LOCK_ID)
            _log.info("Infrastructure changes applied successfully", changes=len(changes))
    return changes


def _apply(store: OlapStore, change: Change) -> None:
    operation = f"ddl_{change.operation}"
    fields = {"table": change.table.name, **({"column": change.column} if change.column else {})}
    with trace_context(type="olap_table", name=change.table.name, operation=operation, **fields):
        started = time.perf_counter()
        try:
            statement = _ddl(store, change)
        except Exception:
            _log.exception("DDL failed", status="failed")
            raise
        _log.info(
            f"Executing DDL: {statement}",
            status="success",
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
        )


def kafka_logger() -> logging.Logger:
    """The stdlib logger librdkafka's own messages go to (into the log files, not stderr)."""
    return logging.getLogger("confluent_kafka")


def ensure_topics(bootstrap_servers: str, names: Sequence[str]) -> None:
    """Create the Kafka topics that do not exist yet (one partition each), logging each."""
    from moose_trace.testing.broker import BrokerUnavailable, create_topics  # noqa: PLC0415

    with trace_context(service="demo-deploy", layer="streaming", phase="execution"):
        try:
            created = create_topics(bootstrap_servers, names, config={"logger": kafka_logger()})
        except BrokerUnavailable:
            _log.exception("Topic creation failed", operation="create_topic")
            raise
        for name in created:
            with trace_context(type="stream", name=name, operation="create_topic"):
                _log.info(f"Created topic {name}", kafka_topic=name, status="success")
