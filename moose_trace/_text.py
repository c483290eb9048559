"""Text of values for people: ``safe_str`` of any object, ``terminal_safe`` for terminals.

``safe_str`` gives the text of a value for a log line, even of objects whose ``__str__`` is
broken.

Log fields are written by whoever sends a request or a record, so a value may hold an escape
sequence (set the window title, clear the screen, recolour), a CR/LF that starts a forged
line, a bidi override that reverses what follows, or an invisible character that makes two
different values look alike. ``terminal_safe`` is the one function every human-facing renderer
passes a value through (query text, trees, summaries, notes that echo input, the console
renderer of ``configure(json=False)``). JSON and CSV exports never call it: they stay exact.

The escapes are visible and reversible (``unescape_terminal`` undoes them): ``\\n``, ``\\r``,
``\\t``, ``\\xNN`` for other C0/C1 controls and DEL, ``\\uNNNN``/``\\UNNNNNNNN`` for format,
separator, surrogate and filler characters. A backslash is doubled only where it would
otherwise read as one of these escapes, so ``C:\\Users`` and ``\\d+`` show as written.

``say`` prints a command's one-line note or error that way (every subcommand and the demo use
it).

Cost: for printable ASCII (nearly every value) two C-level scans (``isascii``,
``isprintable``); otherwise one regular-expression search. Values without anything to escape
are returned as they are.
"""

from __future__ import annotations

import sys

from moose_trace._memo import memo

TYPE_CHECKING = False  # ``typing.TYPE_CHECKING`` without importing typing (mypy knows the name)
if TYPE_CHECKING:
    import re
    from collections.abc import Iterator, Mapping
    from typing import Any, TextIO

__all__ = [
    "safe_str",
    "say",
    "terminal_lines",
    "terminal_safe",
    "terminal_safe_event",
    "unescape_terminal",
]

# Characters a terminal acts on or that hide or reorder text: C0 controls, DEL and C1
# controls (Cc); format characters (Cf: soft hyphen, zero-width space/joiners, bidi marks,
# embeddings, overrides and isolates, the BOM, invisible operators, tag characters); line and
# paragraph separators (Zl, Zp); lone surrogates (Cs, from undecodable bytes); and the
# invisible Hangul fillers and combining grapheme joiner that can make two values look alike.
# Unicode 15 code points are listed too, whatever the running Python's tables know.
_UNSAFE_CLASS = (
    "\x00-\x1f\x7f-\x9f\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2"
    "\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164"
    "\ud800-\udfff\ufeff\uffa0\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0000-\U000e007f"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
_UNNAMED = {"\\\\": "\\", "\\n": "\n", "\\r": "\r", "\\t": "\t"}


@memo(1)
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """Return the escaping patterns, compiled on first use: compiling the Unicode classes
    costs a command's start-up more than most of what it prints (plain ASCII) ever needs, and
    so does importing ``re`` (with ``enum``), which an indexed ``--trace`` never needs."""
    import re  # noqa: PLC0415 - see the docstring

    unsafe = re.compile(
        f"[{_UNSAFE_CLASS}]"
        # a backslash is doubled only where, as written, it would read as one of the escapes
        f"|\\\\(?=[\\\\nrt{_UNSAFE_CLASS}]|x[0-9a-f]{{2}}|u[0-9a-f]{{4}}|U[0-9a-f]{{8}}|$)"
    )
    chars = re.compile(f"[{_UNSAFE_CLASS}]")
    escape = re.compile(r"\\(?:\\|n|r|t|x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})")
    return unsafe, chars, escape


@memo(1)
def _printable_unsafe() -> str:
    """Return the characters of ``_UNSAFE_CLASS`` that ``str.isprintable`` passes (combining
    and filler marks); the others are control, format, separator or surrogate characters,
    which it refuses. Worked out once from the class's ranges: far cheaper than compiling it."""
    found: list[str] = []
    position = 0
    while position < len(_UNSAFE_CLASS):
        first = last = _UNSAFE_CLASS[position]
        if _UNSAFE_CLASS[position + 1 : position + 2] == "-":
            last = _UNSAFE_CLASS[position + 2]
            position += 3
        else:
            position += 1
        found += (char for char in map(chr, range(ord(first), ord(last) + 1)) if char.isprintable())
    return "".join(found)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    point = ord(char)
    if point <= 0xFF:
        return f"\\x{point:02x}"
    if point <= 0xFFFF:
        return f"\\u{point:04x}"
    return f"\\U{point:08x}"


def terminal_safe(text: str, *, reversible: bool = True) -> str:
    """Return ``text`` with every character that could drive or fool a terminal escaped.

    The result holds no control, format or separator character, so it prints on the one
    line it is given and shows exactly what was logged; ``unescape_terminal`` restores it.
    ``reversible=False`` leaves backslashes alone: for messages whose values are quoted with
    ``repr`` already (escaped once, not twice), where only what was left unescaped matters.
    """
    plain = not reversible or "\\" not in text
    if plain and text.isprintable():
        if text.isascii():
            return text  # nearly every value: printable ASCII, two C scans, nothing built
        if not any(char in text for char in _printable_unsafe()):
            return text  # printable Unicode (``ärger``, ``·``, ``└``): no pattern compiled
    unsafe, chars, _ = _patterns()
    if plain and chars.search(text) is None:
        return text
    return (unsafe if reversible else chars).sub(_escape, text)


def terminal_lines(text: str) -> Iterator[str]:
    """Yield the lines of a multi-line value (a stack trace), each one ``terminal_safe``.

    Only ``\\n`` (and ``\\r\\n``) end a line; any other line-breaking character stays escaped
    inside its line, so a value cannot make more lines than it has newlines.
    """
    for line in text.split("\n"):
        yield terminal_safe(line.removesuffix("\r"))


def terminal_safe_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of a log event whose keys and string values are ``terminal_safe``.

    For renderers that print an event's values as they are (structlog's ``ConsoleRenderer``).
    A multi-line ``stack`` keeps its line breaks, each line made safe; other values are left
    to the renderer, which shows them with ``repr`` (escaped already).
    """
    safe: dict[str, Any] = {}
    for key, value in event.items():
        shown = value
        if isinstance(value, str):
            shown = "\n".join(terminal_lines(value)) if key == "stack" else terminal_safe(value)
        safe[terminal_safe(key) if isinstance(key, str) else key] = shown
    return safe


def _unescape(match: re.Match[str]) -> str:
    escape = match.group()
    named = _UNNAMED.get(escape)
    return named if named is not None else chr(int(escape[2:], 16))


def unescape_terminal(text: str) -> str:
    """Return the original of a ``terminal_safe`` text (to copy a value back exactly)."""
    return _patterns()[2].sub(_unescape, text)


def safe_str(value: object) -> str:
    """Return ``str(value)``, or ``<unprintable TypeName>`` when that raises; never raises."""
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"


def say(command: str, message: object, file: TextIO | None = None) -> None:
    """Print ``moose-trace <command>: <message>`` on stderr (or ``file``), on one line.

    Messages echo what the user typed and what the logs hold, so the text is made
    ``terminal_safe``: an escape sequence or a newline in it shows escaped, never acts (a
    value quoted with ``repr`` is not escaped twice).
    """
    text = terminal_safe(str(message), reversible=False)
    print(f"moose-trace {command}: {text}", file=file or sys.stderr)
