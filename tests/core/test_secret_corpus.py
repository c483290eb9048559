"""The secret corpus through the real logging chain: nothing leaks, look-alikes survive.

Every secret of ``secret_corpus.SECRETS`` is logged the ways a service leaks them: as a field,
inside a message, in an exception's message, in the source line a traceback echoes in ``stack``,
and in ``warnings.warn`` output (its message and its source line). Each look-alike of
``secret_corpus.LOOKALIKES`` (trace ids, span ids, UUIDs, hashes, ``error_signature`` …) must come
out exactly as it went in.
"""

from __future__ import annotations

import importlib.util
import io
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest
import structlog

from moose_trace.logging.config import configure_logging, shutdown_logging
from moose_trace.logging.redaction import Redactor
from tests.core.secret_corpus import LOOKALIKES, SECRETS, Secret


def _as_text(secret: Secret) -> str:
    if secret.text:
        return secret.text
    if secret.key != "detail" and secret.family == "secret under a sensitive key":
        return f"{secret.key}={secret.value}"
    return secret.value


def _field(secret: Secret) -> dict[str, Any]:
    return {secret.key: secret.value if secret.key != "detail" else _as_text(secret)}


def _leaking_module(directory: Path) -> ModuleType:
    """A module whose functions hold each secret on the line that raises or warns."""
    lines = ["import warnings", ""]
    for index, secret in enumerate(SECRETS):
        literal = repr(_as_text(secret))
        lines += [
            f"def fail_{index}():",
            f"    raise RuntimeError('upstream refused ' + {literal})",
            "",
            f"def warn_{index}():",
            f"    warnings.warn('deprecated setting ' + {literal}, UserWarning, stacklevel=1)",
            "",
        ]
    path = directory / "leaky_settings.py"
    path.write_text("\n".join(lines), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("leaky_settings", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _log_every_secret(directory: Path) -> list[str]:
    """Return one JSON line per (secret, way of leaking) as the default chain writes them."""
    module = _leaking_module(directory)
    outputs: list[str] = []
    for index, secret in enumerate(SECRETS):
        stream = io.StringIO()
        configure_logging("corpus", stream=stream, json=True, log_dir=False)
        try:
            log = structlog.get_logger("corpus")
            log.info("settings loaded", **_field(secret))
            log.info(f"calling upstream with {_as_text(secret)} failed")
            log.info("nested", config={"items": [_field(secret)]})
            try:
                getattr(module, f"fail_{index}")()
            except RuntimeError:
                log.exception("request failed")
            with warnings.catch_warnings():
                warnings.simplefilter("always")
                getattr(module, f"warn_{index}")()
        finally:
            shutdown_logging()
        outputs.append(stream.getvalue())
    return outputs


def _leaked(secret: Secret, output: str) -> bool:
    decoded = "\n".join(
        repr(orjson.loads(line)) + line for line in output.splitlines() if line.strip()
    )
    return secret.value in decoded or secret.value in output


def leaks(directory: Path | None = None) -> list[tuple[Secret, str]]:
    """Return the corpus secrets that survive the default chain, with the output that held them."""
    if directory is None:
        import tempfile  # noqa: PLC0415 - only for the command-line measurement

        directory = Path(tempfile.mkdtemp(prefix="secret-corpus-"))
    outputs = _log_every_secret(directory)
    return [
        (secret, output)
        for secret, output in zip(SECRETS, outputs, strict=True)
        if _leaked(secret, output)
    ]


def false_positives() -> list[tuple[str, str, Any]]:
    """Return the look-alikes the default redactor changes, with what it made of them."""
    redactor = Redactor()
    changed: list[tuple[str, str, Any]] = []
    for kind, key, value in LOOKALIKES:
        event = {key: value, "event": f"seen {value} while processing"}
        result = redactor(None, "info", dict(event))
        if result != event:
            changed.append((kind, value, result))
    return changed


@pytest.fixture
def quiet_logging() -> Iterator[None]:
    modules_before = set(sys.modules)
    yield
    shutdown_logging()
    structlog.contextvars.clear_contextvars()
    sys.modules.pop("leaky_settings", None)
    assert "leaky_settings" not in set(sys.modules) - modules_before


def test_the_corpus_is_big_and_varied() -> None:
    assert len(SECRETS) >= 100
    assert len(LOOKALIKES) >= 100
    assert len({secret.family for secret in SECRETS}) >= 30
    assert len({secret.value for secret in SECRETS}) == len(SECRETS)


def test_no_secret_of_the_corpus_reaches_the_log(tmp_path: Path, quiet_logging: None) -> None:
    leaked = leaks(tmp_path)
    assert [(secret.family, secret.value) for secret, _ in leaked] == []


def test_every_way_of_leaking_is_exercised(tmp_path: Path, quiet_logging: None) -> None:
    # The harness itself: with redaction off, every secret is in its output, in every place.
    outputs = _log_every_secret(tmp_path)
    for _secret, output in zip(SECRETS[:5], outputs, strict=False):
        assert "[REDACTED]" in output
        assert "stack" in output
        assert "leaky_settings.py" in output
        assert "deprecated setting" in output
    raw = Redactor(keys=[], value_patterns=False)
    stream = io.StringIO()
    configure_logging("corpus", stream=stream, json=True, log_dir=False, redact=raw)
    structlog.get_logger().info("x", **_field(SECRETS[0]))
    shutdown_logging()
    assert SECRETS[0].value in stream.getvalue()


def test_no_lookalike_is_changed() -> None:
    assert false_positives() == []
