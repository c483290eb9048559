"""The Python >= 3.12 environment with moose-lib in which the Moose tests run Moose's runner.

moose-lib is not a dependency of moose-trace (it needs Python >= 3.12; moose-trace supports
3.10): the tests and ``benchmarks/bench_moose.py`` run Moose's own runner in this separate
environment, ``.moose-venv`` at the repository root, with moose-lib and this checkout (editable)
installed. ``python tests/moose/moose_env.py`` creates it (``.ci/run`` does); it is idempotent
and returns at once when the environment is already there.

Finding the interpreter: ``$MOOSE_TRACE_PYTHON312``, else ``python3.12``/``3.13``/``3.14`` on
``PATH`` — through pyenv's shims too, which answer only with a ``PYENV_VERSION`` selected.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ENV_DIR = REPO / ".moose-venv"
MOOSE_LIB = "moose-lib>=0.6,<0.7"
CRC32C = "crc32c>=2"
_NAMES = ("python3.12", "python3.13", "python3.14")
_PROBE = "import sys; assert sys.version_info >= (3, 12); print(sys.executable)"


class NoPython312(RuntimeError):
    """No Python >= 3.12 interpreter was found on this machine."""


def _probe(command: str, env: dict[str, str] | None = None) -> str | None:
    try:
        done = subprocess.run(
            [command, "-c", _PROBE],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def _pyenv_versions() -> list[str]:
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return []
    done = subprocess.run(
        [pyenv, "versions", "--bare"], check=False, capture_output=True, text=True, timeout=60
    )
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]


def find_python312() -> str:
    """Return the path of a real Python >= 3.12 executable (not a shim); else ``NoPython312``."""
    given = os.environ.get("MOOSE_TRACE_PYTHON312")
    if given:
        found = _probe(given)
        if found is None:
            raise NoPython312(f"$MOOSE_TRACE_PYTHON312={given} is not a Python >= 3.12")
        return found
    versions = _pyenv_versions()
    for name in _NAMES:
        command = shutil.which(name)
        if command is None:
            continue
        found = _probe(command)
        if found is not None:
            return found
        prefix = name.removeprefix("python") + "."
        for version in versions:
            if version.startswith(prefix):
                found = _probe(command, {**os.environ, "PYENV_VERSION": version})
                if found is not None:
                    return found
    raise NoPython312(f"none of {', '.join(_NAMES)} runs here (pyenv versions: {versions or '-'})")


def env_python() -> Path:
    """The environment's interpreter (it may not exist yet)."""
    return ENV_DIR / "bin" / "python"


def _ready() -> bool:
    python = env_python()
    if not python.exists():
        return False
    check = (  # find, not import: importing moose-lib takes seconds
        "import importlib.util as u, moose_trace; "
        "assert u.find_spec('moose_lib') and u.find_spec('kafka'); print(moose_trace.__file__)"
    )
    done = subprocess.run(
        [python, "-c", check], check=False, capture_output=True, text=True, timeout=120
    )
    return done.returncode == 0 and done.stdout.strip().startswith(str(REPO))


def ensure_moose_env() -> Path:
    """Create ``.moose-venv`` (moose-lib + this checkout) unless it is ready; return its python."""
    if _ready():
        return env_python()
    interpreter = find_python312()
    subprocess.run([interpreter, "-m", "venv", str(ENV_DIR)], check=True, timeout=300)
    subprocess.run(
        [env_python(), "-m", "pip", "install", "-q", MOOSE_LIB, "-e", str(REPO)],
        check=True,
        timeout=1800,
    )
    if not _ready():
        raise RuntimeError(f"{ENV_DIR} was created but cannot import moose_lib and moose_trace")
    return env_python()


def crc32c_dir() -> Path:
    """A directory holding the ``crc32c`` package, for ``PYTHONPATH`` (made once).

    kafka-python computes the CRC-32C of each record batch in pure Python unless ``crc32c`` is
    importable; ``benchmarks/bench_moose.py`` measures the runner both ways, without changing
    ``.moose-venv`` itself (it stays what ``pip install moose-lib`` gives).
    """
    target = ENV_DIR / "crc32c"
    if not (target / "crc32c").exists():
        subprocess.run(
            [ensure_moose_env(), "-m", "pip", "install", "-q", "--target", str(target), CRC32C],
            check=True,
            timeout=600,
        )
    return target


if __name__ == "__main__":
    try:
        print(ensure_moose_env())
        print(crc32c_dir())  # the checksum warning's test and the benchmark use it
    except NoPython312 as exc:
        print(f"no Moose environment: {exc}", file=sys.stderr)
        sys.exit(2)
