"""The event store's recorder: the library's PostgreSQL application recorder, inserting in one statement."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg.sql import SQL, Identifier


class ClaimsRecorder(PostgresApplicationRecorder):
    """Stores a save's events with one multi-row INSERT (arrays unnested), not a pipelined executemany.

    The library pipelines one INSERT per event; with psycopg 3.3 that pipeline stalls once a
    save holds a few hundred KB (a batch of ~1,000 claims). One statement carrying arrays has
    no such limit and is faster. Everything else (the table lock that serialises inserts, the
    NOTIFY, the returned positions in event order) is the library's.
    """

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

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        with self.datastore.transaction(commit=True) as curs:
            self._insert_events(curs, stored_events, **kwargs)
            if not stored_events:
                return []
            self._lock_table(curs)
            self._notify_channel(curs)
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
