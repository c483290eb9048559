"""docs/otel.md's and docs/metrics.md's code blocks run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _run_page(name: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    blocks = re.findall(r"```python\n(.*?)```", (DOCS / name).read_text(), flags=re.DOTALL)
    assert blocks, f"{name} has no python examples"
    script = tmp_path / f"{name}.py"
    script.write_text("\n".join(blocks))
    return subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
        env={**os.environ, **env},
    )


def test_the_otel_page_runs_as_written(tmp_path: Path) -> None:
    result = _run_page("otel.md", tmp_path, OTEL_TRACES_EXPORTER="none")
    assert result.returncode == 0, result.stderr[-3000:]
    assert '"event":"ingested"' in result.stdout


def test_the_metrics_page_runs_as_written(tmp_path: Path) -> None:
    pytest.importorskip("prometheus_client", reason="needs the prometheus extra (dev installs it)")
    # Port 0: a free port instead of 9464, which another process on this machine may hold.
    result = _run_page(
        "metrics.md", tmp_path, OTEL_EXPORTER_PROMETHEUS_PORT="0", OTEL_METRICS_EXPORTER="none"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r"http://127\.0\.0\.1:\d+/metrics", result.stdout)
