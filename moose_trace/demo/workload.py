"""The scripted workload: real requests that put each user story's situation into the logs.

It plays the app's clients (and, for US-4, a load balancer naming client addresses in
``X-Forwarded-For``) against the running ingest app, and turns the pipeline's knobs:

- US-9: ``data_refresh`` runs while the analytics API is down: ``fetch_external_data`` fails
  with a refused connection, and the workflow retries once the API is up.
- US-1: an event whose ``timestamp`` is ``"yesterday"``: accepted (200), refused by the table.
- US-6: an event whose ``properties`` is null: ``user_event_to_session`` fails and the record
  goes to ``UserEventDeadLetter``.
- US-2: a purchase: the transform's call to the analytics API takes over a second.
- US-4: two readers of ``/consumption/user-pii``, then failed tokens from one address.
- US-3: heavy reports take the connection pool; leaderboard requests time out with 500.
- US-5: inserts slow down batch after batch while merges pile up.
- US-7, US-10: version 2 is deployed: a column added under the DDL lock, ``user_enrichment`` v2.

``Workload.run`` returns ``StoryFacts``: the ids and times the stories' commands need.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from moose_trace.demo.exceptions import DemoError
from moose_trace.demo.pipeline import Pipeline
from moose_trace.demo.progress import DemoStats

__all__ = ["StoryFacts", "Workload", "WorkloadSize", "iso_now"]

_SETTLE_SECONDS = 60.0
_INSERT_DELAYS_MS = (100.0, 300.0, 600.0, 1100.0)
_PII_PATH = "/consumption/user-pii"


def iso_now() -> str:
    """Return the current UTC time as ISO 8601 with milliseconds and ``Z``."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class WorkloadSize:
    """How much traffic each step sends."""

    warmup_events: int = 24
    batch_sizes: tuple[int, ...] = (10, 20, 40, 80)
    leaderboard_timeouts: int = 3
    events_after_deploy: int = 24

    @classmethod
    def short(cls) -> WorkloadSize:
        """The small workload (``--short``): every situation, fewer records."""
        return cls(warmup_events=6, batch_sizes=(2, 4, 6, 8), events_after_deploy=8)


@dataclass
class StoryFacts:
    """What the run produced that the stories' commands refer to."""

    started_at: str = ""
    failed_ingest_trace: str = ""
    """US-1: the ``X-Trace-Id`` of the accepted ingest whose insert failed."""
    slow_purchase_trace: str = ""
    """US-2: the ingest whose transform waited for the analytics API."""
    dead_letter_trace: str = ""
    dead_letter_topic: str = ""
    dead_letter_partition: int = -1
    dead_letter_offset: int = -1
    """US-6: the record sent to the dead-letter topic, by its Kafka coordinates."""
    workflow_run_id: str = ""
    """US-9: the ``data_refresh`` run whose first fetch failed."""
    failed_auth_ip: str = "203.0.113.42"
    """US-4: the address the repeated failed attempts came from."""
    failed_auth_attempts: int = 0
    granted_principals: list[str] = field(default_factory=list)
    leaderboard_timeouts: int = 0
    """US-3: leaderboard requests answered 500."""
    deployed_v2_at: str = ""
    """US-7, US-10: when version 2 was deployed (the compare's split)."""
    finished_at: str = ""
    expected_errors: dict[str, int] = field(default_factory=dict)
    """US-8: error-level events the run must have logged, per ``error_category``."""

    def as_dict(self) -> dict[str, Any]:
        """Return the facts as a JSON-ready dict."""
        return asdict(self)


class Workload:
    """Drives the running demo through every story's situation."""

    def __init__(
        self,
        base_url: str,
        pipeline: Pipeline,
        *,
        stats: DemoStats,
        start_external_api: Callable[[], None],
        deploy_v2: Callable[[], None],
        size: WorkloadSize | None = None,
    ) -> None:
        import httpx  # noqa: PLC0415 (optional dependency)

        self.pipeline = pipeline
        self.stats = stats
        self.size = size or WorkloadSize()
        self.facts = StoryFacts()
        self._client = httpx.Client(base_url=base_url, timeout=30.0)
        self._start_external_api = start_external_api
        self._deploy_v2 = deploy_v2
        self._api_started = threading.Event()
        self._user = 0

    def run(self) -> StoryFacts:
        """Run every step; return the facts. Raises ``DemoError`` when the pipeline stalls."""
        facts = self.facts
        facts.started_at = iso_now()
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="demo-workflow") as pool:
                self.stats.story("US-9 data_refresh runs while the analytics API is down")
                workflow = pool.submit(self.pipeline.run_workflow, self._external_api_back)
                self._ingest_events(self.size.warmup_events, "warm-up traffic")
                facts.workflow_run_id = workflow.result(timeout=30)
            self._bad_timestamp()
            self._null_properties()
            self._slow_purchase()
            self._audit()
            self._leaderboard_timeouts()
            self._growing_batches()
            self._deploy()
        finally:
            self._client.close()
        facts.finished_at = iso_now()
        # Error lines per fault: the failed insert 1; the dead-lettered record 2 (the transform's
        # failure and the DLQ's send); the refused fetch 1; the auth alert 1; each leaderboard
        # timeout 3 (the storage query, the API handler, the 500's access line).
        facts.expected_errors = {
            "type_conversion_error": 1,
            "code_error": 2 * len(self.pipeline.dead_letters),
            "connection_error": 1,
            "authentication_error": 1,
            "timeout_error": 3 * facts.leaderboard_timeouts,
        }
        self.stats.story("done")
        return facts

    # -- helpers ----------------------------------------------------------------------------------

    def _external_api_back(self) -> None:
        if not self._api_started.is_set():
            self._start_external_api()
            self._api_started.set()

    def _event(self, event: str = "click", **overrides: Any) -> dict[str, Any]:
        self._user += 1
        record: dict[str, Any] = {
            "user_id": self._user % 7 + 1,
            "event": event,
            "timestamp": iso_now(),
            "properties": {"page": f"/page/{self._user % 5}"},
        }
        record.update(overrides)
        return record

    def _post(self, records: list[dict[str, Any]]) -> Any:
        response = self._request("POST", "/ingest/UserEvent", json=records)
        if response.status_code != 200:
            raise DemoError(
                f"the ingest app answered {response.status_code}: {response.text}", exit_code=1
            )
        return response

    def _request(self, method: str, path: str, **options: Any) -> Any:
        self.stats.add("requests")
        response = self._client.request(method, path, **options)
        self.stats.add(f"responses_{response.status_code // 100}xx")
        return response

    def _ingest_events(self, count: int, what: str, per_request: int = 4) -> None:
        self.stats.story(what)
        remaining = count
        while remaining > 0:
            chunk = min(per_request, remaining)
            self._post([self._event() for _ in range(chunk)])
            remaining -= chunk
        self._settle()

    def _settle(self) -> None:
        """Wait until every produced record went through the transform and the sync."""
        stats = self.stats
        deadline = time.monotonic() + _SETTLE_SECONDS
        while True:
            produced = stats.count("produced")
            transformed = stats.count("transformed")
            handled = transformed + stats.count("dead_lettered")
            synced = stats.count("inserted") + stats.count("rejected")
            enriched = stats.count("enriched")
            if handled >= produced and synced >= produced + transformed and enriched >= transformed:
                return
            if time.monotonic() > deadline:
                raise DemoError(
                    f"the pipeline stalled: {produced} produced, {handled} transformed, "
                    f"{synced} of {produced + transformed} rows synced",
                    exit_code=1,
                )
            time.sleep(0.01)

    # -- the stories' situations -------------------------------------------------------------

    def _bad_timestamp(self) -> None:
        self.stats.story("US-1 an event whose timestamp is not a DateTime")
        response = self._post([self._event(timestamp="yesterday")])
        self.facts.failed_ingest_trace = response.headers["x-trace-id"]
        self._settle()

    def _null_properties(self) -> None:
        self.stats.story("US-6 an event with a null field goes to the dead-letter topic")
        self._post([self._event(properties=None)])
        self._settle()
        if self.pipeline.dead_letters:
            letter = self.pipeline.dead_letters[-1]
            self.facts.dead_letter_trace = letter.trace_id
            self.facts.dead_letter_topic = letter.topic
            self.facts.dead_letter_partition = letter.partition
            self.facts.dead_letter_offset = letter.offset

    def _slow_purchase(self) -> None:
        self.stats.story("US-2 a purchase: the transform waits for the analytics API")
        response = self._post([self._event("purchase")])
        self.facts.slow_purchase_trace = response.headers["x-trace-id"]
        self._settle()

    def _audit(self) -> None:
        self.stats.story("US-4 who reads /consumption/user-pii, and failed tokens")
        for token, address in (
            ("demo-token-alice", "192.168.1.100"),
            ("demo-token-admin", "10.0.1.50"),
        ):
            response = self._pii(token, address)
            if response.status_code == 200:
                self.facts.granted_principals.append(response.json()["principal"])
        for token in ("demo-token-expired", "forged-token", "forged-token-2"):
            if self._pii(token, self.facts.failed_auth_ip).status_code == 401:
                self.facts.failed_auth_attempts += 1
        self._pii(None, "198.51.100.7")

    def _pii(self, token: str | None, address: str) -> Any:
        headers = {"X-Forwarded-For": address}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self._request("GET", _PII_PATH, headers=headers)

    def _leaderboard_timeouts(self) -> None:
        self.stats.story("US-3 heavy reports take every connection; the leaderboard times out")
        self._request("GET", "/consumption/leaderboard")
        count = self.size.leaderboard_timeouts
        with ThreadPoolExecutor(max_workers=2 + count, thread_name_prefix="demo-client") as pool:
            reports = [pool.submit(self._request, "GET", "/consumption/report") for _ in range(2)]
            time.sleep(0.25)  # the reports hold both connections by now
            boards = [
                pool.submit(self._request, "GET", "/consumption/leaderboard") for _ in range(count)
            ]
            results = [future.result() for future in boards]
            for future in reports:
                future.result()
        self.facts.leaderboard_timeouts = sum(1 for r in results if r.status_code == 500)
        self._request("GET", "/consumption/leaderboard")

    def _growing_batches(self) -> None:
        self.stats.story("US-5 ClickHouse merges pile up: each sync batch is slower")
        self.pipeline.slow_inserts(list(_INSERT_DELAYS_MS[: len(self.size.batch_sizes)]))
        for size in self.size.batch_sizes:
            self._post([self._event() for _ in range(size)])
            self._settle()
        self.pipeline.slow_inserts([])

    def _deploy(self) -> None:
        self.stats.story("US-7 / US-10 deploying version 2: a new column, a faster transform")
        self.facts.deployed_v2_at = iso_now()
        self._deploy_v2()
        self._ingest_events(self.size.events_after_deploy, "US-10 traffic on version 2")
