"""``moose-trace serve``: the log console in a browser, over the same sources as ``logs``.

    moose-trace serve [LOGDIR …] [--port 8765] [--host 127.0.0.1] [--source URL] [--token T]

One process: uvicorn serving ``moose_trace.console.app``. It binds loopback unless told
otherwise; any other address needs a token: ``$MOOSE_TRACE_CONSOLE_TOKEN`` (``--token`` works
too, but a command line is visible to every user of the machine in ``ps``, so it warns).
Bad arguments exit 2 with one line and no traceback.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import sys
from collections.abc import Sequence

from moose_trace.commands.arguments import (
    DEFAULT_LOG_DIR_HELP,
    Subparsers,
    add_store_arguments,
    add_subcommand,
    port,
)
from moose_trace.commands.main import run_subcommand
from moose_trace.query.exceptions import QueryError

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "is_loopback", "main", "register", "run"]

DEFAULT_PORT = 8765
DEFAULT_HOST = "127.0.0.1"

_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]{16,512}")

_EXAMPLES = """\
examples:
  moose-trace serve                          # the default log directory
  moose-trace serve ./logs --port 9000
  moose-trace serve --source chdb:///var/lib/moose-logs
  MOOSE_TRACE_CONSOLE_TOKEN=$(openssl rand -hex 16) moose-trace serve --host 0.0.0.0

The console: docs/console.md
"""


def register(subparsers: Subparsers) -> None:
    """Add the ``serve`` subcommand to the ``moose-trace`` parser."""
    parser = add_subcommand(
        subparsers,
        "serve",
        help="the log console in a browser: live stream, query, trace waterfall, errors, stats",
        module_doc=__doc__,
        epilog=_EXAMPLES,
    )
    parser.add_argument(
        "sources",
        nargs="*",
        metavar="LOGDIR",
        help=f"JSON Lines files, globs or directories (default: {DEFAULT_LOG_DIR_HELP}); "
        "or one ClickHouse URL",
    )
    add_store_arguments(parser, verb="serve")
    parser.add_argument("--port", type=port, default=DEFAULT_PORT, help="default: 8765")
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default: 127.0.0.1)")
    parser.add_argument(
        "--token",
        help="access token, required when binding other than loopback; prefer "
        "$MOOSE_TRACE_CONSOLE_TOKEN (a command line shows in ps)",
    )
    parser.set_defaults(func=run)


def is_loopback(host: str) -> bool:
    """Return whether ``host`` is a loopback address or ``localhost``."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _token(args: argparse.Namespace) -> str | None:
    from moose_trace.console.security import TOKEN_ENV  # noqa: PLC0415 (needs starlette)

    if args.token:
        print(
            f"moose-trace serve: warning: --token is visible to other users (ps, shell "
            f"history); set ${TOKEN_ENV} instead",
            file=sys.stderr,
        )
    token = args.token or os.environ.get(TOKEN_ENV) or None
    if token is not None and _TOKEN.fullmatch(token) is None:
        raise QueryError(
            "bad token: expected 16 to 512 characters of letters, digits and . _ ~ + / = -"
        )
    if token is None and not is_loopback(args.host):
        raise QueryError(
            f"--host {args.host} is reachable from other machines: give a token "
            f"(${TOKEN_ENV}), or bind 127.0.0.1"
        )
    return token


def run(args: argparse.Namespace) -> int:
    """Run ``moose-trace serve`` with parsed ``args`` until Ctrl-C; return the exit status."""
    try:
        import uvicorn  # noqa: PLC0415 (optional dependency)

        from moose_trace.console.app import create_app  # noqa: PLC0415
        from moose_trace.console.security import loopback_hosts  # noqa: PLC0415
        from moose_trace.console.source import open_source  # noqa: PLC0415
    except ModuleNotFoundError as missing:
        print(
            f"moose-trace serve needs {missing.name!r}: pip install 'moose-trace[console]'",
            file=sys.stderr,
        )
        return 2
    try:
        token = _token(args)
        sources = [*args.sources, *([args.store] if args.store else [])]
        source = open_source(sources, args.table)
    except QueryError as bad:
        print(f"moose-trace serve: {bad}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as missing:
        print(
            f"moose-trace serve: a ClickHouse source needs {missing.name!r}: "
            "pip install 'moose-trace[clickhouse]'",
            file=sys.stderr,
        )
        return 2
    hosts = loopback_hosts(args.port) if is_loopback(args.host) else None
    app = create_app(source, token=token, hosts=hosts)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    link = f"http://{shown}:{args.port}/" + ("?token=…" if token else "")
    print(f"moose-trace serve: {source.describe()} at {link} (Ctrl-C stops)", file=sys.stderr)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        ws="auto",
        lifespan="on",
        timeout_graceful_shutdown=3,  # Ctrl-C during a long first load still stops promptly
    )
    uvicorn.Server(config).run()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``moose-trace serve`` with ``argv`` (default: the process arguments)."""
    return run_subcommand("serve", argv)


if __name__ == "__main__":
    sys.exit(main())
