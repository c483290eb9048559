"""Where the time of ``moose_trace.moose.instrument()`` goes, per record, inside one process.

    .moose-venv/bin/python benchmarks/moose_per_record.py [--records 5000] [--rounds 7]

Runs in the Python 3.12 moose-lib environment (``tests/moose/moose_env.py``); ``bench_moose.py``
runs it after the runner benchmark, for the breakdown in docs/benchmarks/moose.md.

The runner's per-record work, step by step, on Moose's own objects and the benchmark's own
Moose project (``moose_project.py``): kafka-python ``ConsumerRecord``s (each with a
``trace_id`` header) handed out by a poll, Moose's ``Message partition=… offset=…`` line
(``StructuredLogContext.log``), ``parse_input``'s pydantic validation, the function through
``StructuredLogContext.run``, Moose's ``Received`` line (``cli_log``), then the batch's outputs
encoded as ``KafkaProducer.send`` encodes them (``json.dumps`` with Moose's encoder,
kafka-python's ``DefaultRecordBatchBuilder.append`` with the headers the send hook gives, the
batch's CRC). No broker: the network is not in it. Moose's lines go to a file, as the runner's
stderr goes to the CLI's pipe.

Variants alternate within each round; each figure is the least CPU time of this thread over
the rounds (CPU time, not wall time: on a shared machine the time spent waiting for a core is
not the code's), in µs per record. The hooks are installed as ``instrument()`` installs them:
moose-lib's seams by ``instrument()`` itself, the kafka-python seams (``KafkaConsumer.poll``,
``KafkaProducer.send``, ``flush``) with the same wrappers around stand-ins for the network
calls.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafka.consumer.fetcher import ConsumerRecord
from kafka.record.default_records import DefaultRecordBatchBuilder
from moose_lib.commons import CliLogData, EnhancedJSONEncoder, cli_log
from moose_lib.utilities.structured_logging import setup_structured_logging

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from moose_project import load_project, record_value  # noqa: E402

import moose_trace  # noqa: E402
import moose_trace.moose  # noqa: E402
from moose_trace.moose._consumer_hooks import traced_poll  # noqa: E402
from moose_trace.moose._producer_hooks import traced_flush, traced_send  # noqa: E402
from moose_trace.tracing.ids import new_trace_id  # noqa: E402

PREFIX = "Raw-0123456789ab -> Out-0123456789ab"
PROJECT = load_project()


def make_records(count: int) -> list[Any]:
    return [
        ConsumerRecord(
            "Raw", 0, offset, 0, 0, None, json.loads(record_value(offset)),
            [("trace_id", new_trace_id().encode())], None, -1, 60, 44,
        )
        for offset in range(count)
    ]  # fmt: skip


class Batch:
    """What ``KafkaProducer.send`` does with a record, without the network: encode it into a
    record batch (headers included); ``flush`` builds the batch (its CRC-32C)."""

    def __init__(self) -> None:
        self.builder = self._new()
        self.offset = 0

    @staticmethod
    def _new() -> DefaultRecordBatchBuilder:
        return DefaultRecordBatchBuilder(
            magic=2,
            compression_type=0,
            is_transactional=False,
            producer_id=-1,
            producer_epoch=-1,
            base_sequence=-1,
            batch_size=1 << 24,
        )

    def send(self, _producer: Any, topic: str, value: Any = None, key: Any = None,
             headers: Any = None) -> None:  # fmt: skip
        self.builder.append(self.offset, None, key, value, headers or [])
        self.offset += 1

    def flush(self, _producer: Any) -> None:
        self.builder.build()
        self.builder = self._new()


def one_pass(
    records: list[Any],
    poll: Callable[[Any], Any],
    send: Callable[..., Any],
    flush: Callable[[Any], Any],
    function: Callable[[Any], Any],
) -> float:
    """The runner's loop over one poll batch, then its outputs; CPU seconds of this thread."""
    raw = PROJECT["Raw"]
    context = setup_structured_logging(lambda ctx: ctx["function_name"], "function_name")
    started = time.thread_time()
    batch = poll(None)
    outputs = []
    for messages in batch.values():
        for message in messages:
            context.log("info", f"{PREFIX}: Message partition={message.partition} "
                        f"offset={message.offset}")  # fmt: skip
            data = raw.model_validate(message.value)
            result = context.run({"function_name": PREFIX}, lambda: function(data))  # noqa: B023 - called at once, as the runner does
            outputs.append(result)
            cli_log(CliLogData(action="Received", message=f"{PREFIX} 1 message(s)"))
    for item in outputs:
        send(None, "Out", json.dumps(item, cls=EnhancedJSONEncoder).encode("utf-8"))
    flush(None)
    return time.thread_time() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    records = make_records(args.records)
    scratch = Path(tempfile.mkdtemp(prefix="moose-per-record-"))
    stderr = sys.stderr
    sys.stderr = open(scratch / "runner.stderr", "w", buffering=1)  # noqa: SIM115
    moose_trace.configure(service="bench-moose", stdout=False, log_dir=scratch)
    batch = Batch()
    decorated = load_project(decorated=True)["convert"]

    def plain_poll(_consumer: Any) -> Any:
        return {("Raw", 0): list(records)}

    hooked = (traced_poll(plain_poll), traced_send(batch.send), traced_flush(batch.flush))
    variants: dict[str, tuple[Callable[..., Any], ...]] = {
        "plain": (plain_poll, batch.send, batch.flush, PROJECT["convert"]),
        "instrument()": (*hooked, PROJECT["convert"]),
        "instrument() + @traced_transform": (*hooked, decorated),
    }
    best = {name: float("inf") for name in variants}
    for _ in range(args.rounds):
        for name, (poll, send, flush, function) in variants.items():
            if name == "plain":
                moose_trace.moose.uninstrument()
            else:
                moose_trace.moose.instrument()
            best[name] = min(best[name], one_pass(records, poll, send, flush, function))
    moose_trace.moose.uninstrument()
    sys.stderr.close()
    sys.stderr = stderr
    plain = best["plain"]
    for name, seconds in best.items():
        per_record = seconds / args.records * 1e6
        extra = (seconds - plain) / args.records * 1e6
        added = f", +{extra:.1f} µs" if name != "plain" else ""
        print(f"{name}: {per_record:.1f} µs/record{added} ({plain / seconds:.0%} of plain's rate)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
