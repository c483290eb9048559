"""The demo's streaming pipeline and workflow, each part a thread with its own ``service`` name.

```
UserEvent ─ user_event_to_session ─▶ Session ─ user_enrichment ─▶ EnrichedSession
    │              │ (null field)        │
    │              └────▶ UserEventDeadLetter
    └──────── clickhouse_sync ───────────┴──▶ tables UserEvent, Session
workflow data_refresh: fetch_external_data ▶ load_to_clickhouse (table ExternalScores)
```

(The workflow is in ``workflow``.)

Every record is handled inside ``message_context`` (its trace, topic, partition, offset and
consumer group bound) by a function traced with ``traced_transform`` / ``traced_sync``; what a
transform produces through ``TracedProducer`` carries its input's trace, so one id runs from
the HTTP request to the table. The workload turns the knobs the stories need: slower inserts
(``slow_inserts``), a second deployment of ``user_enrichment`` (``deploy_enrichment``).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import structlog

from moose_trace.demo.app import PIPELINE
from moose_trace.demo.data_model import DLQ_TOPIC
from moose_trace.demo.kafka_clients import (
    assigned_consumer,
    bind_lag,
    close_producer,
    commit_past,
    consumer_lag,
    flush_to,
    traced_producer,
)
from moose_trace.demo.processes import Supervisor
from moose_trace.demo.progress import DemoStats
from moose_trace.demo.table import OlapStore
from moose_trace.demo.workflow import run_data_refresh
from moose_trace.tracing.context import bind_fields, trace_context

__all__ = [
    "CONSUMER_GROUP",
    "DeadLetter",
    "Pipeline",
]

_log = structlog.get_logger("moose_trace.demo.pipeline")

CONSUMER_GROUP = "clickhouse_sync"
"""The sync's consumer group."""
_POLL_SECONDS = 0.05
_BATCH_MAX = 500
_BATCH_WINDOW_SECONDS = _POLL_SECONDS  # the sync inserts what arrived this long, as one batch
_SLOW_CALL_MS = 1000
_ENRICH_DELAY_MS = 1200


@dataclass(frozen=True)
class DeadLetter:
    """A record ``user_event_to_session`` sent to the dead-letter topic, and where it came from."""

    trace_id: str
    topic: str
    partition: int
    offset: int


class Pipeline:
    """The transforms, the sync and the workflow, started on ``start`` under a ``Supervisor``."""

    def __init__(
        self,
        bootstrap_servers: str,
        store: OlapStore,
        stats: DemoStats,
        external_url: str,
    ) -> None:
        import httpx  # noqa: PLC0415 (optional dependency)

        self.bootstrap_servers = bootstrap_servers
        self.store = store
        self.stats = stats
        self.external_url = external_url
        self.dead_letters: list[DeadLetter] = []
        self.workflow_runs: list[str] = []
        self.enrichment_version = 1
        self._http = httpx.Client(timeout=5.0)
        self._insert_delays: deque[float] = deque()
        self._lock = threading.Lock()
        self._events_per_user: dict[int, int] = defaultdict(int)

    def start(self, supervisor: Supervisor) -> None:
        """Start the transforms and the sync as worker threads."""
        supervisor.started("http client", self._http.close, shown=False)
        supervisor.spawn(
            "transform",
            self._run_sessions,
            "user_event_to_session: UserEvent → Session (DLQ UserEventDeadLetter)",
        )
        supervisor.spawn("enrichment", self._run_enrichment, "user_enrichment v1: Session → …")
        supervisor.spawn("sync", self._run_sync, f"{CONSUMER_GROUP}: UserEvent, Session → tables")

    def slow_inserts(self, delays_ms: list[float]) -> None:
        """Make the next ``UserEvent`` batch inserts wait these many ms (merges pending, US-5).

        Replaces what is left of an earlier list; ``[]`` makes inserts fast again.
        """
        with self._lock:
            self._insert_delays = deque(delays_ms)

    def deploy_enrichment(self, version: int) -> None:
        """Switch ``user_enrichment`` to ``version`` (1: a query per record; 2: a running count)."""
        with trace_context(service="demo-deploy", type="transform", name="user_enrichment"):
            self.enrichment_version = version
            _log.info(f"Deployed user_enrichment v{version}", phase="execution", version=version)
        self.stats.component("enrichment", "up", f"user_enrichment v{version}: Session → …")

    # -- user_event_to_session ---------------------------------------------------------------

    def _run_sessions(self, stop: threading.Event) -> None:
        from moose_trace.decorators import traced_transform  # noqa: PLC0415
        from moose_trace.kafka import DeadLetterQueue, traced_messages  # noqa: PLC0415

        bind_fields(service="demo-transform")
        consumer = assigned_consumer(
            self.bootstrap_servers, "user_event_to_session", ("UserEvent",)
        )
        producer = traced_producer(self.bootstrap_servers)
        dlq = DeadLetterQueue(producer, DLQ_TOPIC)

        @traced_transform(
            "user_event_to_session",
            source="UserEvent",
            target="Session",
            dlq=dlq,
            include_payload=True,
            phase="runtime",
        )
        def user_event_to_session(message: Any) -> dict[str, Any]:
            record = orjson.loads(message.value())
            page = record["properties"]["page"]  # a null ``properties`` fails here (US-6)
            if record["event"] == "purchase":
                self._enrich(record["user_id"])
            session = {
                "session_id": f"{record['user_id']}-{str(record.get('timestamp', ''))[:10]}",
                "user_id": record["user_id"],
                "event": record["event"],
                "page": page,
            }
            producer.produce("Session", value=orjson.dumps(session), key=str(record["user_id"]))
            return session

        messages = traced_messages(
            consumer,
            consumer_group="user_event_to_session",
            stop=stop,
            timeout=_POLL_SECONDS,
            batch_size=1,  # one record at a time: the demo shows each one's way through
        )
        try:
            for message in messages:
                try:
                    result = user_event_to_session(message)
                except Exception:  # logged by the decorator: the dead-letter send failed too
                    continue
                flush_to(producer, "Session" if result is not None else DLQ_TOPIC)
                if result is None:
                    self._dead_lettered(message)
                self.stats.add("transformed" if result is not None else "dead_lettered")
        finally:
            close_producer(producer)
            consumer.close()

    def _dead_lettered(self, message: Any) -> None:
        from moose_trace.kafka import extract_trace_id  # noqa: PLC0415

        self.dead_letters.append(
            DeadLetter(
                extract_trace_id(message) or "",
                message.topic(),
                message.partition(),
                message.offset(),
            )
        )

    def _enrich(self, user_id: int) -> None:
        """Call the analytics API; this call is the slow part of the transform (US-2)."""
        url = f"{self.external_url}/enrich"
        started = time.perf_counter()
        response = self._http.get(url, params={"user_id": user_id, "delay_ms": _ENRICH_DELAY_MS})
        response.raise_for_status()
        elapsed = round((time.perf_counter() - started) * 1000, 3)
        fields = {"operation": "external_api_call", "http_url": url, "latency_ms": elapsed}
        if elapsed > _SLOW_CALL_MS:
            _log.warning(
                f"External API call to analytics.example.com took {elapsed:.0f}ms",
                hint="External API latency: potential issue",
                **fields,
            )
        else:
            _log.debug("External API call", **fields)

    # -- user_enrichment ----------------------------------------------------------------------

    def _run_enrichment(self, stop: threading.Event) -> None:
        from moose_trace.decorators import traced_transform  # noqa: PLC0415
        from moose_trace.kafka import traced_messages  # noqa: PLC0415

        bind_fields(service="demo-transform")
        consumer = assigned_consumer(self.bootstrap_servers, "user_enrichment", ("Session",))
        producer = traced_producer(self.bootstrap_servers)
        table = self.store.qualified("UserEvent")

        def events_of(user_id: int) -> int:
            if self.enrichment_version == 1:  # v1: one query per record
                rows = self.store.query(
                    f"SELECT count(*) AS events FROM {table} WHERE user_id = {int(user_id)}"
                )
                return int(rows[0]["events"]) if rows else 0
            return self._events_per_user[user_id]  # v2: a running count kept in memory

        @traced_transform("user_enrichment", source="Session", target="EnrichedSession")
        def user_enrichment(message: Any) -> dict[str, Any]:
            session = orjson.loads(message.value())
            self._events_per_user[session["user_id"]] += 1
            enriched = {
                **session,
                "user_events": events_of(session["user_id"]),
                "version": self.enrichment_version,
            }
            producer.produce("EnrichedSession", value=orjson.dumps(enriched))
            return enriched

        messages = traced_messages(
            consumer,
            consumer_group="user_enrichment",
            stop=stop,
            timeout=_POLL_SECONDS,
            batch_size=1,
        )
        try:
            for message in messages:
                bind_fields(version=self.enrichment_version)  # ends with the record
                try:
                    user_enrichment(message)
                except Exception:  # logged by the decorator; the next record goes on
                    continue
                finally:
                    self.stats.add("enriched")
                flush_to(producer, "EnrichedSession")
        finally:
            close_producer(producer)
            consumer.close()

    # -- clickhouse_sync ----------------------------------------------------------------------

    def _run_sync(self, stop: threading.Event) -> None:
        from moose_trace.decorators import traced_sync  # noqa: PLC0415

        bind_fields(service="demo-sync")
        topics = ("UserEvent", "Session")
        consumer = assigned_consumer(self.bootstrap_servers, CONSUMER_GROUP, topics)

        lags: dict[str, int] = {}

        @traced_sync("UserEvent", CONSUMER_GROUP, pipeline=PIPELINE)
        def insert_user_events(batch: list[Any]) -> int:
            bind_lag(lags.get("UserEvent"))
            self._pending_merges()
            self.store.insert("UserEvent", [orjson.loads(message.value()) for message in batch])
            return len(batch)

        @traced_sync("Session", CONSUMER_GROUP)
        def insert_sessions(batch: list[Any]) -> int:
            bind_lag(lags.get("Session"))
            self.store.insert("Session", [orjson.loads(message.value()) for message in batch])
            return len(batch)

        inserts: dict[str, Callable[[list[Any]], int]] = {
            "UserEvent": insert_user_events,
            "Session": insert_sessions,
        }
        try:
            while not stop.is_set():
                for topic, batch in self._batches(consumer, stop).items():
                    lag = consumer_lag(consumer, topic)
                    if lag is not None:
                        lags[topic] = lag
                    self._sync(inserts[topic], batch)
                    commit_past(consumer, batch[-1])
        finally:
            consumer.close()

    @staticmethod
    def _batches(consumer: Any, stop: threading.Event) -> dict[str, list[Any]]:
        """The records of one batch window (at most ``_BATCH_MAX``), by topic, in order.

        Read as a user of the SDK would: ``traced_messages`` binds each record's trace (topic,
        partition, offset, consumer group) while it is looked at, so its ``consumed message``
        line carries its trace id, and skips and logs consumer errors. The window ends after
        ``_BATCH_WINDOW_SECONDS``; records fetched but not taken by then are given back.
        """
        from moose_trace.kafka import traced_messages  # noqa: PLC0415

        window_ends = time.monotonic() + _BATCH_WINDOW_SECONDS
        batches: dict[str, list[Any]] = defaultdict(list)
        for message in traced_messages(
            consumer,
            consumer_group=CONSUMER_GROUP,
            timeout=_POLL_SECONDS,
            max_messages=_BATCH_MAX,
            batch_size=_BATCH_MAX,
            stop=lambda: stop.is_set() or time.monotonic() >= window_ends,
        ):
            _log.debug("consumed message", type="olap_table", name=message.topic(), layer="sync")
            batches[message.topic()].append(message)
        return batches

    def _sync(self, insert: Callable[[list[Any]], int], batch: list[Any]) -> None:
        """Insert a batch; when the table refuses it, insert record by record to keep the rest."""
        try:
            self.stats.add("inserted", insert(batch))
            return
        except Exception:  # logged by traced_sync, with every record's trace id
            if len(batch) == 1:
                self.stats.add("rejected")
                return
        for message in batch:
            try:
                self.stats.add("inserted", insert([message]))
            except Exception:
                self.stats.add("rejected")

    def _pending_merges(self) -> None:
        """Wait as ClickHouse does when parts pile up (``parts_to_delay_insert``): US-5.

        The diagnostics line is written inside the batch's call, so it carries the sync's
        fields (``layer=sync``, ``consumer_group``, ``operation=batch_insert``): the US-5
        commands that list the slow batches show why they are slow.
        """
        with self._lock:
            delay_ms = self._insert_delays.popleft() if self._insert_delays else 0.0
        if delay_ms:
            _log.warning(
                "ClickHouse diagnostics",
                pending_merges=int(delay_ms // 20),
                insert_delay_ms=delay_ms,
                hint="High merge activity may be causing slowdown",
            )
            time.sleep(delay_ms / 1000)

    def run_workflow(self, on_failure: Callable[[], None], attempts: int = 3) -> str:
        """Run ``data_refresh`` once; a failed ``fetch_external_data`` is retried (US-9).

        ``on_failure`` is called after each failed fetch, before the backoff. Returns the run's
        ``workflow_run_id`` (a failed run is counted and kept too, then its error raised).
        """
        run_ids: list[str] = []
        try:
            run_data_refresh(
                self._http,
                self.external_url,
                self.store,
                on_failure,
                attempts=attempts,
                run_ids=run_ids,
            )
        finally:
            self.stats.add("workflow_runs")
            self.workflow_runs.extend(run_ids)
        return run_ids[0] if run_ids else ""
