"""``instrument()`` / ``uninstrument()``: trace ids through Moose's own Python streaming runner.

Call ``instrument()`` at the top of the Moose project's ``app/main.py`` (the runner imports it
before it creates its Kafka clients). It patches, reversibly, the few seams the runner goes
through — kafka-python's ``KafkaConsumer.poll`` and ``KafkaProducer.send``, moose-lib's
``StructuredLogContext.run`` and the ``json`` its logging modules write with — so that with the
runner unmodified each record is handled inside its trace and each output, dead letter and
Moose log line carries it (docs/moose.md says exactly what and why these seams).

Never raises into Moose: without moose-lib it warns and does nothing; on a moose-lib version it
was not tested with it warns and hooks what still matches; a hook that fails logs one error
and the runner goes on untraced.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import threading
import warnings
from collections.abc import Callable
from typing import Any

import structlog

from moose_trace.moose._consumer_hooks import traced_poll
from moose_trace.moose._patching import Patches
from moose_trace.moose._producer_hooks import traced_flush, traced_send
from moose_trace.moose._runner_hooks import TracedMooseJson, traced_run
from moose_trace.moose._state import guard, thread_state

__all__ = [
    "PURE_PYTHON_CRC_EVENT",
    "SUPPORTED_MOOSE_LIB",
    "MooseInstrumentationWarning",
    "instrument",
    "is_instrumented",
    "uninstrument",
]

SUPPORTED_MOOSE_LIB = "0.6"
"""The moose-lib release series the hooks were written and tested against (0.6.x)."""

PURE_PYTHON_CRC_EVENT = (
    "kafka-python computes CRC-32C in pure Python here: the trace headers cost about a fifth of"
    " the runner's records/s; pip install 'moose-trace[moose]' (adds crc32c) to make them cheap"
)
"""The ``event`` of the one warning ``instrument()`` logs when kafka-python has no native
CRC-32C (the ``crc32c`` package): each byte of a header then costs about 0.5 µs to checksum."""

_log = structlog.get_logger("moose_trace.moose")
_lock = threading.Lock()
_patches = Patches()
_crc_reported = False


class MooseInstrumentationWarning(RuntimeWarning):
    """``instrument()`` could not hook (all of) Moose: moose-lib missing, untested or changed."""


def _warn(message: str) -> None:
    warnings.warn(message, MooseInstrumentationWarning, stacklevel=3)
    _log.warning(message)


def _module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except Exception:
        return None


def _moose_lib_version() -> str | None:
    for distribution in ("moose-lib", "moose_lib"):
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _hook_method(owner: Any, name: str, wrap: Callable[[Any], Any], what: str) -> bool:
    original = getattr(owner, name, None) if owner is not None else None
    if not callable(original):
        _warn(f"moose-trace cannot hook {what}: not found in this version; it stays untraced")
        return False
    _patches.replace(owner, name, wrap(vars(owner).get(name, original)))
    return True


def _hook_json(module: Any, what: str) -> None:
    if module is None or getattr(module, "json", None) is not json:
        _warn(f"moose-trace cannot add trace ids to {what}: it does not write with json here")
        return
    _patches.replace(module, "json", TracedMooseJson(json))


def instrument() -> bool:
    """Trace Moose's Python streaming runner; return whether Moose was found and hooked.

    Idempotent (a second call does nothing) and reversible (``uninstrument``). Without
    moose-lib (or its kafka-python) it warns (``MooseInstrumentationWarning`` and a log line)
    and returns ``False``; on a moose-lib outside the tested ``SUPPORTED_MOOSE_LIB`` series
    it warns and hooks what still matches. Never raises.
    """
    with _lock:
        if _patches:
            return True
        try:
            return _instrument()
        except Exception as exc:  # a Moose shaped unlike anything we know: stay out of its way
            _patches.restore_all()
            guard.disarm()
            _warn(f"moose-trace could not instrument Moose ({type(exc).__name__}: {exc})")
            return False


def _instrument() -> bool:
    kafka = _module("kafka")
    moose_lib = _module("moose_lib")
    if moose_lib is None or kafka is None:
        missing = "moose-lib" if moose_lib is None else "kafka-python"
        _warn(f"moose-trace.moose.instrument(): {missing} is not installed; nothing to trace")
        return False
    version = _moose_lib_version()
    if version is None or not (version + ".").startswith(SUPPORTED_MOOSE_LIB + "."):
        _warn(
            f"moose-lib {version or '(unknown version)'} was not tested with moose-trace (tested:"
            f" {SUPPORTED_MOOSE_LIB}.x); instrumenting what matches, check docs/moose.md"
        )
    structured = _module("moose_lib.utilities.structured_logging")
    commons = _module("moose_lib.commons")
    _hook_method(getattr(kafka, "KafkaConsumer", None), "poll", traced_poll, "KafkaConsumer.poll")
    producer = getattr(kafka, "KafkaProducer", None)
    _hook_method(producer, "send", traced_send, "KafkaProducer.send")
    _hook_method(producer, "flush", traced_flush, "KafkaProducer.flush")
    _hook_method(
        getattr(structured, "StructuredLogContext", None),
        "run",
        traced_run,
        "StructuredLogContext.run (outputs sent after a batch keep no trace)",
    )
    _hook_json(structured, "Moose's function log lines")
    _hook_json(commons, "Moose's cli_log lines")
    guard.arm()
    _check_checksum()
    return True


def _check_checksum() -> None:
    """Warn once per process when kafka-python checksums record batches in pure Python.

    kafka-python-ng (what moose-lib installs) uses the ``crc32c`` package when it is importable
    and its own pure-Python CRC-32C otherwise; every byte of the two trace headers (about 110
    a record) then costs as much to checksum as a byte of the value. Measured in
    docs/benchmarks/moose.md.
    """
    global _crc_reported  # noqa: PLW0603 - one warning per process
    if _crc_reported:
        return
    util = _module("kafka.record.util")
    if util is not None and hasattr(util, "crc32c_c"):
        native = util.crc32c_c is not None
    else:  # another kafka-python layout: whether the package it would use is there at all
        native = importlib.util.find_spec("crc32c") is not None
    if not native:
        _crc_reported = True
        _log.warning(PURE_PYTHON_CRC_EVENT)


def uninstrument() -> None:
    """Undo ``instrument()``: every patched attribute gets its original back. Idempotent."""
    with _lock:
        guard.disarm()
        _patches.restore_all()
        thread_state.pending.clear()
        thread_state.sent = {}
        thread_state.record = None


def is_instrumented() -> bool:
    """Whether ``instrument()`` is in effect (and no hook has failed since)."""
    return bool(_patches) and guard.on
