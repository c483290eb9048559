"""The terminal a result is shown on: its width, and the text that may reach it.

``shown`` is ``moose_trace._text.terminal_safe``: values a log writer controls are escaped
before they reach a terminal (the one escaping function of every human-facing renderer).
"""

from __future__ import annotations

import io
import os

from moose_trace._text import terminal_safe

TYPE_CHECKING = False  # ``typing.TYPE_CHECKING`` without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import TextIO

    from moose_trace.query.event_text import Style

__all__ = [
    "DEFAULT_PAGER",
    "DEFAULT_WIDTH",
    "output_style",
    "paged",
    "pager_command",
    "shown",
    "terminal_width",
]

DEFAULT_PAGER = "less -FRX"
"""The pager when ``$MOOSE_TRACE_PAGER`` and ``$PAGER`` say nothing: as ``git log`` runs
``less`` — quit when the output fits one screen, keep colours, leave the screen as it was."""

DEFAULT_WIDTH = 120
"""The width drawn for when the output is not a terminal and ``COLUMNS`` is not set."""

shown = terminal_safe
"""Return ``text`` with what could drive or fool a terminal escaped (``terminal_safe``)."""


def terminal_width(out: TextIO) -> int:
    """Return the columns of ``out``: the terminal's, else ``COLUMNS``, else ``DEFAULT_WIDTH``."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        if out.isatty():
            import shutil  # noqa: PLC0415 (a terminal only: a piped answer starts faster)

            return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
    except (AttributeError, ValueError, OSError):
        pass
    return DEFAULT_WIDTH


def output_style(choice: str, out: TextIO, format_: str) -> Style:
    """Return how text written to ``out`` is coloured: ``--color`` ``choice`` (``auto``: on a
    terminal, unless ``NO_COLOR`` is set or ``TERM`` is ``dumb``); never for JSON or CSV."""
    from moose_trace.query.event_text import Style  # noqa: PLC0415 (text answers only)

    if format_ != "text" or choice == "never":
        return Style(False)
    if choice == "always":
        return Style(True)
    plain = "NO_COLOR" in os.environ or os.environ.get("TERM") == "dumb"
    return Style(out.isatty() and not plain)


def pager_command(out: TextIO, env: Mapping[str, str]) -> list[str] | None:
    """Return the pager to send ``out``'s text through, or ``None``: not a terminal, or off.

    ``$MOOSE_TRACE_PAGER``, else ``$PAGER``, else ``DEFAULT_PAGER``; an empty value or ``cat``
    means no pager, as does a pager that is not installed.
    """
    try:
        if not out.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    spelled = env.get("MOOSE_TRACE_PAGER", env.get("PAGER", DEFAULT_PAGER))
    import shlex  # noqa: PLC0415 (a terminal only: a piped answer starts faster)

    try:
        words = shlex.split(spelled)
    except ValueError:
        return None
    import shutil  # noqa: PLC0415 (a terminal only: a piped answer starts faster)

    if not words or words[0] == "cat" or shutil.which(words[0]) is None:
        return None
    return words


class _PagerInput(io.TextIOWrapper):
    """The pager's input, standing in for the terminal it pages onto (colours, width)."""

    def isatty(self) -> bool:
        return True


class paged:  # lowercase: used as the function it was, ``with paged(command) as out``
    """Run ``command`` (a pager) and give a text stream into it; wait for it to end on exit.

    The reader quitting early (``q`` in ``less``) is not an error: what was left unwritten is
    dropped, as ``git log`` does. (A class, not ``contextlib.contextmanager``: this module is
    on the way to every answer, and contextlib is not.)
    """

    def __init__(self, command: list[str]) -> None:
        self.command = command

    def __enter__(self) -> TextIO:
        env = dict(os.environ)
        env.setdefault("LESS", "FRX")
        import subprocess  # noqa: PLC0415 (only a pager needs it; a piped answer starts faster)

        self.process = subprocess.Popen(self.command, stdin=subprocess.PIPE, env=env)
        assert self.process.stdin is not None
        self.stream = _PagerInput(
            self.process.stdin, encoding="utf-8", errors="replace", line_buffering=False
        )
        return self.stream

    def __exit__(self, kind: type[BaseException] | None, *_rest: object) -> bool:
        try:  # noqa: SIM105 (no contextlib here: see the class doc)
            self.stream.close()
        except (BrokenPipeError, OSError, ValueError):
            pass
        while True:
            try:
                self.process.wait()
                break
            except KeyboardInterrupt:
                continue  # the pager handles Ctrl-C itself; wait for it to end
        return kind is not None and issubclass(kind, BrokenPipeError)
