"""The event store's recorder: the library's PostgreSQL application recorder, inserting in one statement."""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.sql import SQL, Identifier
from psycopg_pool import PoolTimeout

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
RETRY_FOR_SECONDS = 1.0  # how long a failed call is retried (a pooled connection broke: the next one may work)
RETRY_WAIT_SECONDS = 0.2


def retry_briefly(func: F) -> F:
    """Retry a database call on a broken connection, for a second at most; never after a pool timeout.

    The library retries its recorders' calls 10 times, 0.2 s apart. Each attempt may wait the
    pool's timeout (POSTGRES_CONNECT_TIMEOUT, 5 s) for a connection, so with the database down
    one call took 50 s and a request several of them. A pool timeout means no connection could
    be made for that long: trying again at once would only wait as long again, so it is raised
    (the API answers 503 with Retry-After), and a request fails in a few seconds.
    """
    func = getattr(func, "__wrapped__", func)  # the library's method without its own retry

    @functools.wraps(func)
    def retrying(*args: Any, **kwargs: Any) -> Any:
        give_up_at = time.monotonic() + RETRY_FOR_SECONDS
        while True:
            try:
                return func(*args, **kwargs)
            except (InterfaceError, OperationalError) as e:
                if isinstance(e.__cause__, PoolTimeout) or time.monotonic() + RETRY_WAIT_SECONDS > give_up_at:
                    raise
                check_pool(args[0])
                time.sleep(RETRY_WAIT_SECONDS)

    return retrying  # type: ignore[return-value]


def check_pool(holder: Any) -> None:
    """Test every idle connection of ``holder``'s pool (a recorder or view), replacing the broken ones.

    Connections are not tested before each use (Settings.pool_pre_ping is off: that costs a
    round trip per use). After a database restart every pooled connection is broken; the first
    call to fail tests them all here, so the retry, and the calls after it, get working ones.
    """
    pool = getattr(getattr(holder, "datastore", None), "pool", None)
    if pool is not None:
        try:
            pool.check()
        except Exception:  # noqa: BLE001  (the database may still be down: the retry will say so)
            log.debug("checking the pool failed", exc_info=True)


class ClaimsRecorder(PostgresApplicationRecorder):
    """Stores a save's events in one statement: a multi-row INSERT, or COPY for a large save.

    The library pipelines one INSERT per event; with psycopg 3.3 that pipeline stalls once a
    save holds a few hundred KB (a batch of ~1,000 claims). A small save is one INSERT of
    unnested arrays. A large one (``copy_from`` events or more: a batch, a group commit) is
    streamed by binary COPY, 2-3 times faster again: the rows are formatted in C and the server
    stores them as they arrive. COPY returns no positions; the table lock, held from before the
    COPY to the commit, makes them exactly the positions above the head read under that lock,
    assigned in row order. Everything else (the lock that serialises inserts, the NOTIFY, the
    hash-chain trigger firing row by row in position order) is the library's or unchanged.

    Its calls are retried briefly (``retry_briefly``), not the library's 10 times.
    """

    copy_from = 64  # from this many events a save is COPYed; fewer go in one INSERT (COPY costs two more round trips)

    select_events = retry_briefly(PostgresApplicationRecorder.select_events)
    select_notifications = retry_briefly(PostgresApplicationRecorder.select_notifications)
    max_notification_id = retry_briefly(PostgresApplicationRecorder.max_notification_id)

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        id_type = "uuid" if datastore.originator_id_type == "uuid" else "text"
        self.insert_unnested = SQL(
            "INSERT INTO {table} (originator_id, originator_version, topic, state)"
            " SELECT originator_id, originator_version, topic, state"
            f" FROM unnest(%s::{id_type}[], %s::bigint[], %s::text[], %s::bytea[])"
            " WITH ORDINALITY AS e(originator_id, originator_version, topic, state, n)"
            " ORDER BY n RETURNING notification_id"
        ).format(table=Identifier(datastore.schema, self.events_table_name))
        table = Identifier(datastore.schema, self.events_table_name)
        self.copy_in = SQL(
            "COPY {table} (originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY)"
        ).format(table=table)
        self.copy_types = [id_type, "int8", "text", "bytea"]
        self.head_under_lock = SQL("SELECT coalesce(max(notification_id), 0) AS head FROM {table}").format(table=table)
        self.select_many = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {table}"
            f" WHERE originator_id = ANY(%s::{id_type}[]) ORDER BY originator_id, originator_version"
        ).format(table=table)
        self.positions_after = SQL(  # one row: thousands of dict rows cost more than the query
            "SELECT coalesce(array_agg(notification_id ORDER BY notification_id), '{{}}') AS positions"
            " FROM {table} WHERE notification_id > %s"
        ).format(table=table)
        # The whole of ``insert_events`` (lock, NOTIFY, INSERT) as one function: called in autocommit
        # mode, it is one round trip and one transaction (``insert_at_once``, the group commit's).
        function = Identifier(datastore.schema, "claims_insert_events")
        self.sql_create_statements.append(SQL(
            "CREATE OR REPLACE FUNCTION {function}("
            f"ids {id_type}[], versions bigint[], topics text[], states bytea[])"
            " RETURNS SETOF bigint LANGUAGE plpgsql AS $body$"
            " BEGIN"
            "  SET LOCAL lock_timeout = '{lock_timeout}s';"
            "  LOCK TABLE {table} IN EXCLUSIVE MODE;"
            "  NOTIFY {channel};"
            "  RETURN QUERY INSERT INTO {table} (originator_id, originator_version, topic, state)"
            "   SELECT e.originator_id, e.originator_version, e.topic, e.state"
            "   FROM unnest(ids, versions, topics, states)"
            "   WITH ORDINALITY AS e(originator_id, originator_version, topic, state, n)"
            "   ORDER BY e.n RETURNING notification_id;"
            " END $body$"
        ).format(function=function, table=table, channel=Identifier(self.channel_name),
                 lock_timeout=SQL(str(int(datastore.lock_timeout)))))
        self.call_insert_function = SQL(
            f"SELECT {{function}}(%s::{id_type}[], %s::bigint[], %s::text[], %s::bytea[]) AS position"
        ).format(function=function)

    @retry_briefly
    def select_streams(self, originator_ids: Sequence[Any]) -> list[StoredEvent]:
        """Every event of these streams in one query, stream after stream, each in version order."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.select_many, (list(originator_ids),))
            return [
                StoredEvent(originator_id=row["originator_id"], originator_version=row["originator_version"],
                            topic=row["topic"], state=bytes(row["state"]))
                for row in curs.fetchall()
            ]

    @retry_briefly
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        with self.datastore.transaction(commit=True) as curs:
            self._insert_events(curs, stored_events, **kwargs)
            if not stored_events:
                return []
            self._lock_table(curs)
            self._notify_channel(curs)
            if len(stored_events) >= self.copy_from:
                return self._copy(curs, stored_events)
            curs.execute(
                self.insert_unnested,
                (
                    [e.originator_id for e in stored_events],
                    [e.originator_version for e in stored_events],
                    [e.topic for e in stored_events],
                    [e.state for e in stored_events],
                ),
            )
            return [row["notification_id"] for row in curs.fetchall()]

    @retry_briefly
    def insert_at_once(self, stored_events: Sequence[StoredEvent]) -> list[int]:
        """Store events as ``insert_events`` does (same lock, NOTIFY, rows, positions), in one round trip.

        The group commit's writer thread waits for the GIL after each round trip while the event
        loop holds it; ``insert_events`` takes six (BEGIN, the lock timeout, the lock, NOTIFY, the
        INSERT, COMMIT), this one: a call of ``claims_insert_events`` in autocommit mode, which
        PostgreSQL commits (durably) before it answers. The pooled connection is handed back as
        it was taken, out of autocommit mode.
        """
        if not stored_events:
            return []
        with self.datastore.get_connection() as conn:
            conn.autocommit = True
            try:
                rows = conn.execute(
                    self.call_insert_function,
                    (
                        [e.originator_id for e in stored_events],
                        [e.originator_version for e in stored_events],
                        [e.topic for e in stored_events],
                        [e.state for e in stored_events],
                    ),
                    prepare=True,
                ).fetchall()
            finally:
                with contextlib.suppress(psycopg.Error):  # a broken connection: the pool discards it
                    conn.autocommit = False
        return [row["position"] for row in rows]

    def _copy(self, curs: Any, stored_events: Sequence[StoredEvent]) -> list[int]:
        """COPY the events in; their positions are those above the head (the table is locked)."""
        head = curs.execute(self.head_under_lock).fetchone()["head"]
        with curs.copy(self.copy_in) as copy:
            copy.set_types(self.copy_types)
            for e in stored_events:
                copy.write_row((e.originator_id, e.originator_version, e.topic, e.state))
        positions = curs.execute(self.positions_after, (head,)).fetchone()["positions"]
        if len(positions) != len(stored_events):  # only another writer ignoring the lock could cause this
            raise RuntimeError(f"COPY stored {len(stored_events)} events but {len(positions)} follow position {head}")
        return positions


def datastore_of(app: Application[Any]) -> PostgresDatastore:
    """The PostgreSQL datastore (connection pool, schema) under an application on the PostgreSQL store.

    Everything beside the events (views, keys, idempotency, the hash chain) shares its pool.
    """
    recorder = app.recorder
    if not isinstance(recorder, PostgresApplicationRecorder):
        raise TypeError(f"the application stores events in {type(recorder).__name__}, not PostgreSQL")
    return recorder.datastore
