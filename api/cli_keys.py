"""`claims keys create | list | revoke`, and the check that keeps `claims serve` from being open beyond loopback."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from adapters.keys import CACHE_SECONDS, ROLES, KeyStore
from adapters.settings import Settings
from api.auth import is_loopback
from api.bootstrap import bootstrap

console = Console()
err_console = Console(stderr=True)


def add_commands(commands: Any) -> None:
    """Add `keys` and its actions to the `claims` subcommands."""
    keys = commands.add_parser("keys", help="API keys: create (the token is shown once), list, revoke")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="make a key and print its token, which is shown only this once")
    create.add_argument("--name", required=True, help="who the key is for; events record it as recorded_by")
    create.add_argument("--role", required=True, choices=ROLES, help="reader < writer < admin")
    create.set_defaults(run=_create)
    listing = actions.add_parser("list", help="every key: name, role, created, revoked (never a token)")
    listing.add_argument("--format", choices=["table", "json"], default="table")
    listing.set_defaults(run=_list)
    revoke = actions.add_parser("revoke", help=f"revoke a key (takes effect within {CACHE_SECONDS:g} s)")
    revoke.add_argument("name")
    revoke.set_defaults(run=_revoke)


def _create(args: argparse.Namespace, settings: Settings) -> int:
    services = bootstrap(settings)
    try:
        key, token = services.keys.create(args.name, args.role)
    finally:
        services.close()
    err_console.print(
        f"key [bold]{key.name}[/bold] ({key.role}) created. Its token, below, is shown only this once; "
        "send it as Authorization: Bearer <token>."
    )
    sys.stdout.write(token + "\n")  # alone on stdout, so that TOKEN=$(claims keys create …) works
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    services = bootstrap(settings)
    try:
        keys = services.keys.list()
    finally:
        services.close()
    if args.format == "json":
        import orjson

        rows = [{"name": k.name, "role": k.role, "created_at": k.created_at, "revoked_at": k.revoked_at} for k in keys]
        sys.stdout.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    if not keys:
        console.print("no API keys: the server is open, and only on a loopback address")
        return 0
    table = Table(title="API keys")
    for column in ("name", "role", "created", "revoked"):
        table.add_column(column, overflow="fold")
    for key in keys:
        revoked = f"{key.revoked_at:%Y-%m-%d %H:%M:%S %Z}" if key.revoked_at else ""
        table.add_row(key.name, key.role, f"{key.created_at:%Y-%m-%d %H:%M:%S %Z}", revoked)
    console.print(table)
    return 0


def _revoke(args: argparse.Namespace, settings: Settings) -> int:
    services = bootstrap(settings)
    try:
        key, revoked_now = services.keys.revoke(args.name)
    finally:
        services.close()
    if revoked_now:
        err_console.print(f"key [bold]{key.name}[/bold] revoked; servers refuse it within {CACHE_SECONDS:g} s")
    else:
        err_console.print(f"key [bold]{key.name}[/bold] was already revoked ({key.revoked_at:%Y-%m-%d %H:%M:%S %Z})")
    return 0


def refuse_open_beyond_loopback(keys: KeyStore, host: str) -> str | None:
    """Why `claims serve` must not start on ``host`` (None: it may).

    With no key the server is open, which is safe only where no one else can reach it. Bound
    beyond loopback, the server also stays closed if every key is later revoked.
    """
    if is_loopback(host):
        return None
    keys.required = True
    if keys.any_active():
        return None
    return (
        f"refusing to serve on {host}: no API key exists, so the API would be open to anyone who can reach "
        f"this address. Create a key first:\n\n    claims keys create --name NAME --role admin\n\n"
        "and send its token as Authorization: Bearer <token>; or serve on 127.0.0.1 (the default)."
    )
