"""Idempotency keys: the first answer to a POST, kept per (principal, key) so a retry gets it again.

The ``idempotency`` table, on the application's connection pool (like ``api_keys``):

- ``claim`` inserts a row for the key (no answer yet) and answers an owner token when this
  request won it; ``INSERT … ON CONFLICT DO NOTHING`` on the primary key lets exactly one of
  several concurrent requests with one key win. An expired row (older than ``ttl``) and an
  unfinished claim with the same fingerprint whose process has gone, or older than
  ``lease``, are taken over instead. A process is known to be alive by a PostgreSQL advisory
  lock it holds on a session of its own for as long as it runs (its ``holder`` key, stored
  with each claim): a process killed mid-request loses its session and the lock with it, so
  a client's retry is run again at once, not ten minutes later.
- ``complete`` stores the answer (status, headers, body) under the owner token;
  ``release`` deletes an unfinished claim (a 5xx, an exception), so a retry runs again.
- Rows older than ``ttl`` are deleted on a ``claim``, at most once a ``PURGE_SECONDS``.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL, Identifier
from psycopg.types.json import Jsonb

TABLE = "idempotency"
PURGE_SECONDS = 60.0
# An unfinished claim this old is taken to be abandoned (its process died) and may be taken over.
LEASE_SECONDS = 600.0


@dataclass(frozen=True)
class Claimed:
    """A won claim: the owner token of this run, and the epoch of this use of the key."""

    owner: str
    epoch: str


@dataclass(frozen=True)
class Stored:
    """A key's row: the request's fingerprint and, once complete, its answer."""

    fingerprint: bytes
    status: int | None
    headers: list[tuple[str, str]]
    body: bytes
    created_at: datetime
    completed_at: datetime | None

    @property
    def complete(self) -> bool:
        return self.completed_at is not None


class IdempotencyStore:
    """The ``idempotency`` table."""

    def __init__(
        self,
        datastore: PostgresDatastore,
        *,
        ttl_hours: float = 24,
        lease_seconds: float = LEASE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.datastore = datastore
        self.table = Identifier(datastore.schema, TABLE)
        self.ttl_hours = ttl_hours
        self.lease_seconds = lease_seconds
        self.clock = clock
        self._purge_lock = threading.Lock()
        self._next_purge = float("-inf")
        self.holder = secrets.randbits(62)  # this process's advisory lock key
        self._holding: psycopg.Connection[Any] | None = None
        self._holding_lock = threading.Lock()
        self._held_until = float("-inf")

    def create_table(self) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                SQL(
                    "CREATE TABLE IF NOT EXISTS {} (key text NOT NULL, principal text NOT NULL,"
                    " method text NOT NULL, path text NOT NULL, body_hash bytea NOT NULL, owner uuid NOT NULL,"
                    " status int, headers jsonb, body bytea,"
                    " created_at timestamptz NOT NULL DEFAULT now(), completed_at timestamptz,"
                    " PRIMARY KEY (principal, key))"
                ).format(self.table)
            )
            curs.execute(SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS holder bigint").format(self.table))
            curs.execute(SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS epoch uuid").format(self.table))
            curs.execute(
                SQL("CREATE INDEX IF NOT EXISTS {} ON {} (created_at)").format(
                    Identifier(f"{TABLE}_created_at"), self.table
                )
            )

    def claim(self, principal: str, key: str, method: str, path: str, fingerprint: bytes) -> Claimed | None:
        """Claim the key for this request: its owner token and epoch, or None when another request holds it.

        The epoch is the same for every run of one use of the key: a run that takes over the claim of a process that died keeps the epoch; a use of the key
        after it expired gets a new one. A route may derive what it creates from (key, epoch).
        """
        self.maybe_purge()
        self.hold()
        owner = str(uuid.uuid4())
        with self.datastore.transaction(commit=True) as curs:
            row = curs.execute(
                SQL(
                    "INSERT INTO {} AS i (key, principal, method, path, body_hash, owner, holder, epoch)"
                    " VALUES (%(key)s, %(principal)s, %(method)s, %(path)s, %(hash)s, %(owner)s, %(holder)s,"
                    " %(owner)s)"
                    " ON CONFLICT (principal, key) DO UPDATE SET method = EXCLUDED.method, path = EXCLUDED.path,"
                    " body_hash = EXCLUDED.body_hash, owner = EXCLUDED.owner, holder = EXCLUDED.holder,"
                    " epoch = CASE WHEN i.created_at < now() - %(ttl)s * interval '1 hour' OR i.epoch IS NULL"
                    "         THEN EXCLUDED.epoch ELSE i.epoch END,"
                    " status = NULL, headers = NULL, body = NULL, created_at = now(), completed_at = NULL"
                    " WHERE i.created_at < now() - %(ttl)s * interval '1 hour'"
                    " OR (i.completed_at IS NULL AND i.body_hash = EXCLUDED.body_hash"
                    "     AND (i.created_at < now() - %(lease)s * interval '1 second'"
                    "          OR (i.holder IS NOT NULL AND NOT EXISTS ("
                    "              SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted"
                    "              AND l.objsubid = 1 AND ((l.classid::bigint << 32) | l.objid::bigint) = i.holder))))"
                    " RETURNING owner, epoch"
                ).format(self.table),
                {
                    "key": key, "principal": principal, "method": method, "path": path, "hash": fingerprint,
                    "owner": owner, "holder": self.holder, "ttl": self.ttl_hours, "lease": self.lease_seconds,
                },
            ).fetchone()
        return None if row is None else Claimed(str(row["owner"]), str(row["epoch"]))

    def hold(self) -> None:
        """Hold this process's advisory lock (again, if its session was lost), on a session of its own.

        The session is tested at most once a second (a database restart ends it, and the lock).
        """
        with self._holding_lock:
            if self._holding is not None and not self._holding.closed:
                if self.clock() < self._held_until:
                    return
                try:
                    self._holding.execute("SELECT 1")
                    self._held_until = self.clock() + 1.0
                    return
                except psycopg.Error:
                    self._holding.close()
            pool = self.datastore.pool
            kwargs = {k: v for k, v in pool.kwargs.items() if k != "row_factory"}
            self._holding = psycopg.connect(pool.conninfo, autocommit=True, **kwargs)
            self._holding.execute("SELECT pg_advisory_lock(%s)", (self.holder,))
            self._held_until = self.clock() + 1.0

    def close(self) -> None:
        """End the session holding this process's lock (its unfinished claims may then be taken over)."""
        with self._holding_lock:
            if self._holding is not None:
                with contextlib.suppress(psycopg.Error):  # unlocked at once (a closed session's lock goes a moment later)
                    self._holding.execute("SELECT pg_advisory_unlock(%s)", (self.holder,))
                self._holding.close()
                self._holding = None

    def get(self, principal: str, key: str) -> Stored | None:
        with self.datastore.transaction(commit=False) as curs:
            row = curs.execute(
                SQL(
                    "SELECT body_hash, status, headers, body, created_at, completed_at FROM {}"
                    " WHERE principal = %s AND key = %s"
                ).format(self.table),
                (principal, key),
            ).fetchone()
        if row is None:
            return None
        return Stored(
            fingerprint=bytes(row["body_hash"]),
            status=row["status"],
            headers=[(name, value) for name, value in row["headers"] or []],
            body=bytes(row["body"] or b""),
            created_at=row["created_at"],
            completed_at=row["completed_at"],
        )

    def complete(
        self, principal: str, key: str, owner: str, status: int, headers: list[tuple[str, str]], body: bytes
    ) -> bool:
        """Store the answer; False if the claim is no longer this owner's (taken over meanwhile)."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                SQL(
                    "UPDATE {} SET status = %s, headers = %s, body = %s, completed_at = now()"
                    " WHERE principal = %s AND key = %s AND owner = %s AND completed_at IS NULL"
                ).format(self.table),
                (status, Jsonb([list(pair) for pair in headers]), body, principal, key, owner),
            )
            return curs.rowcount == 1

    def release(self, principal: str, key: str, owner: str) -> None:
        """Give up an unfinished claim, so that a retry with the key runs again."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                SQL("DELETE FROM {} WHERE principal = %s AND key = %s AND owner = %s AND completed_at IS NULL").format(
                    self.table
                ),
                (principal, key, owner),
            )

    def maybe_purge(self) -> None:
        """``purge``, unless this process did it less than ``PURGE_SECONDS`` ago."""
        if self.clock() < self._next_purge or not self._purge_lock.acquire(blocking=False):
            return
        try:
            self._next_purge = self.clock() + PURGE_SECONDS
            self.purge()
        finally:
            self._purge_lock.release()

    def purge(self) -> int:
        """Delete the keys older than ``ttl``; answer how many."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                SQL("DELETE FROM {} WHERE created_at < now() - %s * interval '1 hour'").format(self.table),
                (self.ttl_hours,),
            )
            return curs.rowcount
