"""`claims audit verify [--checkpoint FILE]`: re-hash the log; prove it extends an earlier checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

from adapters import checkpoint
from adapters.audit import AuditLog
from adapters.settings import Settings
from api.bootstrap import bootstrap

console = Console(soft_wrap=True)  # hashes stay on one line
err_console = Console(stderr=True)


def add_commands(commands: Any) -> None:
    """Add `audit` and its actions to the `claims` subcommands."""
    audit = commands.add_parser("audit", help="the tamper-evident log")
    actions = audit.add_subparsers(dest="action", required=True)
    verify = actions.add_parser("verify", help="re-hash the log: exit 0 intact, 1 tampered")
    verify.add_argument(
        "--checkpoint", type=Path, metavar="FILE",
        help="a checkpoint saved from GET /v1/audit/checkpoint: also prove the log still extends it",
    )
    verify.set_defaults(run=_verify)


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    vouched: tuple[int, bytes] | None = None
    if args.checkpoint is not None:
        try:
            saved = orjson.loads(args.checkpoint.read_bytes())
        except (OSError, orjson.JSONDecodeError) as e:
            err_console.print(f"[red]error:[/red] cannot read the checkpoint {args.checkpoint}: {e}")
            return 2
        try:
            vouched = checkpoint.check(saved)
        except checkpoint.CheckpointInvalid as e:
            console.print(f"[red]checkpoint rejected:[/red] {e}")
            return 1
    services = bootstrap(settings)
    try:
        result = AuditLog.of(services.app).verify(prefix=vouched[0] if vouched else None)
    finally:
        services.close()

    if result.ok:
        console.print(f"[green]intact:[/green] {result.events} events, head {result.head.hex()}")
    else:
        console.print(f"[red]tampered:[/red] first bad position {result.first_bad_position}: {result.reason}")
    if vouched is None:
        return 0 if result.ok else 1

    size, head = vouched
    stamp = f"checkpoint of {saved['timestamp']} ({size} events, head {head.hex()}, signature valid)"
    if result.prefix_head is None:
        console.print(f"[red]{stamp}: NOT extended[/red]: the log re-hashes only {result.events} events"
                      + ("" if result.ok else " before the first bad one"))
        return 1
    if result.prefix_head != head:
        console.print(f"[red]{stamp}: NOT extended[/red]: its first {size} events now hash to "
                      f"{result.prefix_head.hex()}")
        return 1
    console.print(f"[green]{stamp}: the current log extends it[/green]")
    return 0 if result.ok else 1
