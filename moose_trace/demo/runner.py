"""``run_demo``: start every part, run the workload, show the results, stop everything.

Order: the OLAP engine (in a thread, as chDB takes a second to load) and the broker, the topics
and tables (deployment v1), the ingest app under uvicorn, the transforms and the sync; then the
workload. The ``Supervisor`` stops what started, newest first, on every way out.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import orjson

from moose_trace._text import say, terminal_safe
from moose_trace.demo.data_model import TABLES, TABLES_V2, TOPICS
from moose_trace.demo.exceptions import DemoError
from moose_trace.demo.external import ExternalApi
from moose_trace.demo.infra import deploy, ensure_topics
from moose_trace.demo.kafka_clients import close_producer, traced_producer
from moose_trace.demo.pipeline import Pipeline
from moose_trace.demo.processes import (
    Supervisor,
    UvicornThread,
    check_port_free,
    free_port,
    interrupts_as_exceptions,
)
from moose_trace.demo.progress import DemoStats, ProgressView
from moose_trace.demo.stories import LogsCommand, print_results
from moose_trace.demo.table import OlapStore, open_store
from moose_trace.demo.workload import StoryFacts, Workload, WorkloadSize
from moose_trace.logging.paths import LOG_DIR_ENV, default_log_dir

__all__ = ["DEMO_SERVICE", "DemoOptions", "run_demo"]

DEMO_SERVICE = "moose-demo"
"""The demo process's service name (its log file's name); each part sets its own ``service``."""
HOST = "127.0.0.1"
_REQUIRED = (
    ("confluent_kafka", "confluent-kafka"),
    ("uvicorn", "uvicorn"),
    ("starlette", "starlette"),
    ("httpx", "httpx"),
)
_QUIET_LOGGERS = {"httpx": "warning", "httpcore": "warning", "uvicorn": "warning"}


@dataclass(frozen=True)
class DemoOptions:
    """How to run the demo (the command line's options)."""

    bootstrap_servers: str | None = None
    """A Kafka broker to use instead of the embedded Tansu broker."""
    clickhouse_url: str | None = None
    """A ClickHouse server for the tables instead of chDB (or DuckDB)."""
    port: int = 0
    """The ingest app's port; 0: a free one."""
    keep_running: bool = False
    """Leave the pipeline up after the workload, until Ctrl-C."""
    short: bool = False
    """The small workload."""
    log_dir: Path | None = None
    """Where logs go; default: the SDK's default log directory."""
    report: Path | None = None
    """Write the run's facts (trace ids, offsets, times) as JSON here."""
    run_logs: LogsCommand | None = None
    """Runs ``moose-trace logs`` in this process for the closing trace (``moose-trace demo``
    passes its own); ``None``: as a child process."""


def _check_requirements(options: DemoOptions) -> None:
    for module, package in _REQUIRED:
        if importlib.util.find_spec(module) is None:
            raise DemoError(f"the demo needs {package}: pip install 'moose-trace[demo]'")
    if options.bootstrap_servers is None:
        from moose_trace.testing.broker import BrokerUnavailable, tansu_binary  # noqa: PLC0415

        try:
            tansu_binary()
        except BrokerUnavailable as missing:
            raise DemoError(f"{missing} (or give --bootstrap-servers HOST:PORT)") from None
    if options.port:
        check_port_free(HOST, options.port, "the ingest app")


def _configure_logging(log_dir: Path) -> None:
    from moose_trace.configuration import configure  # noqa: PLC0415

    configure(
        DEMO_SERVICE,
        stdout=False,
        level="debug",
        levels=_QUIET_LOGGERS,
        include_payload=True,
        log_dir=log_dir,
    )


def run_demo(options: DemoOptions, out: TextIO | None = None) -> int:
    """Run the demo; return the exit status. Raises ``DemoError`` with a message for the user.

    Ctrl-C (``KeyboardInterrupt``) and SIGTERM (``Stopped``) propagate after every part is
    stopped.
    """
    stream = out if out is not None else sys.stdout
    _check_requirements(options)
    if options.log_dir is not None:
        os.environ[LOG_DIR_ENV] = str(options.log_dir)
    log_dir = default_log_dir()
    _configure_logging(log_dir)
    stats = DemoStats()
    supervisor = Supervisor(stats)
    state_dir = Path(tempfile.mkdtemp(prefix="moose-trace-demo-"))
    supervisor.started("state", lambda: shutil.rmtree(state_dir, ignore_errors=True), shown=False)
    print(
        "moose-trace demo: HTTP → Kafka → transform → table, one trace id throughout", file=stream
    )
    print(f"  logs: {terminal_safe(str(log_dir))}", file=stream)
    stream.flush()
    view = ProgressView(stats, stream)
    problems: list[str] = []
    try:
        with interrupts_as_exceptions():
            with view.showing():
                facts, store_engine = _run(options, supervisor, stats, state_dir)
            if not options.keep_running:
                problems += supervisor.stop_all()
            if options.report is not None:
                options.report.write_bytes(
                    orjson.dumps(
                        {**facts.as_dict(), "log_dir": str(log_dir), "table": store_engine},
                        option=orjson.OPT_INDENT_2,
                    )
                )
            print_results(
                facts,
                stats=stats,
                table_engine=store_engine,
                log_dir=log_dir,
                source=options.log_dir,
                out=stream,
                run_logs=options.run_logs,
            )
            if options.keep_running:
                _wait_for_interrupt(stream)
    finally:
        problems += supervisor.stop_all()
    for problem in problems:
        say("demo", problem)
    return 1 if problems else 0


def _run(
    options: DemoOptions, supervisor: Supervisor, stats: DemoStats, state_dir: Path
) -> tuple[StoryFacts, str]:
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="demo-start") as pool:
        stats.component("table", "starting")
        opening = pool.submit(open_store, options.clickhouse_url, state_dir)
        bootstrap = _start_broker(options, supervisor, stats)
        store: OlapStore = opening.result()
    supervisor.started("table", store.close, store.engine)
    ensure_topics(bootstrap, TOPICS)
    lock = state_dir / "infra_ddl.lock"
    deploy(store, TABLES, lock, version="1")

    from moose_trace.demo.app import build_app  # noqa: PLC0415

    external = ExternalApi(HOST, free_port(HOST))
    supervisor.started("analytics API", external.stop, shown=False)
    stats.component("analytics API", "down", f"{external.url} (comes up during US-9)")
    producer = traced_producer(bootstrap)
    supervisor.started("producer", lambda: close_producer(producer), shown=False)
    port = options.port or free_port(HOST)
    stats.component("ingest app", "starting")
    server = UvicornThread(build_app(producer, store, stats), HOST, port, service="demo-ingest")
    server.start()
    supervisor.started("ingest app", server.stop, server.url)
    pipeline = Pipeline(bootstrap, store, stats, external.url)
    pipeline.start(supervisor)

    def deploy_v2() -> None:
        deploy(store, TABLES_V2, lock, version="2")
        pipeline.deploy_enrichment(2)

    def external_up() -> None:
        external.start()
        stats.component("analytics API", "up", external.url)

    workload = Workload(
        server.url,
        pipeline,
        stats=stats,
        start_external_api=external_up,
        deploy_v2=deploy_v2,
        size=WorkloadSize.short() if options.short else WorkloadSize(),
    )
    facts = workload.run()
    supervisor.check()
    return facts, store.engine


def _start_broker(options: DemoOptions, supervisor: Supervisor, stats: DemoStats) -> str:
    if options.bootstrap_servers:
        stats.component("broker", "up", f"{options.bootstrap_servers} (given)")
        return options.bootstrap_servers
    from moose_trace.testing.broker import BrokerUnavailable, EmbeddedBroker  # noqa: PLC0415

    stats.component("broker", "starting")
    broker = EmbeddedBroker(host=HOST)
    try:
        broker.start()
    except BrokerUnavailable as failure:
        raise DemoError(str(failure), exit_code=1) from None
    supervisor.started("broker", broker.stop, f"{broker.bootstrap_servers} (Tansu, embedded)")
    return broker.bootstrap_servers


def _wait_for_interrupt(stream: TextIO) -> None:
    print("\nThe pipeline keeps running; Ctrl-C stops it.", file=stream)
    stream.flush()
    forever = threading.Event()
    while not forever.wait(0.5):
        pass
