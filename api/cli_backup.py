"""`claims export FILE` and `claims import FILE`: the whole log out to NDJSON, and back into an empty store."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from adapters.backup import Backup, BackupRefused
from adapters.settings import Settings
from api.bootstrap import bootstrap

err_console = Console(stderr=True, soft_wrap=True)


def add_commands(commands: Any) -> None:
    """Add `export` and `import` to the `claims` subcommands."""
    export = commands.add_parser("export", help="write the whole log (events, positions, hashes) to an NDJSON file")
    export.add_argument("file", type=Path)
    export.set_defaults(run=_export)
    restore = commands.add_parser("import", help="restore an exported log into an empty store, byte for byte")
    restore.add_argument("file", type=Path)
    restore.set_defaults(run=_import)


def _export(args: argparse.Namespace, settings: Settings) -> int:
    services = bootstrap(settings)
    try:
        backup = Backup.of(services.app)
        columns = (TextColumn("export"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=err_console) as progress:
            task = progress.add_task("export", total=backup.count())
            summary = backup.export(args.file, lambda n: progress.advance(task, n))
    except BackupRefused as e:
        err_console.print(f"[red]export refused:[/red] {e}")
        return 1
    except OSError as e:
        err_console.print(f"[red]error:[/red] cannot write {args.file}: {e}")
        return 2
    finally:
        services.close()
    err_console.print(f"exported {summary.events} events to {args.file}, head {summary.head.hex()}")
    return 0


def _import(args: argparse.Namespace, settings: Settings) -> int:
    try:
        size = args.file.stat().st_size
        file = args.file.open("rb")
    except OSError as e:
        err_console.print(f"[red]error:[/red] cannot read {args.file}: {e}")
        return 2
    services = bootstrap(settings)
    try:
        columns = (TextColumn("import"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
        with file, Progress(*columns, console=err_console) as progress:
            task = progress.add_task("import", total=size)
            summary = Backup.of(services.app).import_(file, lambda n: progress.advance(task, n))
    except BackupRefused as e:
        err_console.print(f"[red]import refused, nothing imported:[/red] {e}")
        return 1
    finally:
        services.close()
    err_console.print(f"imported {summary.events} events from {args.file}, head {summary.head.hex()}")
    return 0
