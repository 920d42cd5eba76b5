"""The projections' shared state in the database: requested rebuilds, and each worker's state.

Workers may run in another process than the API (`claims project`), so a rebuild request
and a worker's state (live, rebuilding with progress, stopped with the failing event) pass
through this table, which every process on the database can read and write.
"""

from __future__ import annotations

import time
from typing import Any

from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL, Identifier
from psycopg.types.json import Jsonb

TABLE = "projection_control"


class Control:
    def __init__(self, datastore: PostgresDatastore) -> None:
        self.datastore = datastore
        self.table = Identifier(datastore.schema, TABLE)

    def create_table(self) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                SQL(
                    "CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY,"
                    " rebuild_requested boolean NOT NULL DEFAULT false, state text, error jsonb, progress jsonb,"
                    " updated_at timestamptz NOT NULL DEFAULT now())"
                ).format(self.table)
            )

    def request_rebuild(self, name: str) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                SQL(
                    "INSERT INTO {} (name, rebuild_requested) VALUES (%s, true)"
                    " ON CONFLICT (name) DO UPDATE SET rebuild_requested = true, updated_at = now()"
                ).format(self.table),
                (name,),
            )

    def take_rebuild_request(self, name: str) -> bool:
        """True (once) if a rebuild of ``name`` was requested; its state is "rebuilding" from then on."""
        with self.datastore.transaction(commit=True) as curs:
            row = curs.execute(
                SQL(
                    "UPDATE {} SET rebuild_requested = false, state = 'rebuilding', error = NULL, progress = NULL,"
                    " updated_at = now() WHERE name = %s AND rebuild_requested RETURNING name"
                ).format(self.table),
                (name,),
            ).fetchone()
        return row is not None

    def publish(self, name: str, state: str, error: dict[str, Any] | None, progress: dict[str, Any] | None) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                SQL(
                    "INSERT INTO {} (name, state, error, progress) VALUES (%s, %s, %s, %s)"
                    " ON CONFLICT (name) DO UPDATE SET state = EXCLUDED.state, error = EXCLUDED.error,"
                    " progress = EXCLUDED.progress, updated_at = now()"
                ).format(self.table),
                (name, state, Jsonb(error) if error else None, Jsonb(progress) if progress else None),
            )

    def rows(self) -> dict[str, dict[str, Any]]:
        with self.datastore.transaction(commit=False) as curs:
            return {row["name"]: dict(row) for row in curs.execute(SQL("SELECT * FROM {}").format(self.table))}


class Progress:
    """A rebuild's progress: events done of the total, rate, and time to go."""

    def __init__(self, total: int) -> None:
        self.done = 0
        self.total = total
        self.started = time.monotonic()

    def as_dict(self) -> dict[str, Any]:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.done / elapsed
        remaining = max(self.total - self.done, 0)
        return {
            "events_done": self.done,
            "events_total": self.total,
            "rate_per_second": round(rate, 1),
            "eta_seconds": round(remaining / rate, 1) if rate > 0 else None,
        }
