"""The global log read as a feed: batches after a position, and a wait for new ones, on a connection of its own.

Each open feed holds one PostgreSQL connection (autocommit, outside the request pool) for as
long as it is open: it reads a batch at a time (no transaction left open between batches, so a
slow consumer holds no lock and no snapshot), and, following the log, LISTENs on the channel the
event store NOTIFYs on every commit, so a new event is read as soon as it is committed.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic
from psycopg.rows import dict_row
from psycopg.sql import SQL, Identifier

from domain.claim import Claim
from domain.party import AliasIndex, Party
from domain.topic import Topic

# Stream kinds, by the aggregate whose events they hold.
STREAM_KINDS: dict[str, type] = {"claim": Claim, "party": Party, "topic": Topic, "alias": AliasIndex}


def _event_classes() -> dict[str, tuple[str, str]]:
    """Every event type's name -> (its stored topic, its stream kind)."""
    found = {}
    for kind, aggregate in STREAM_KINDS.items():
        for name, value in vars(aggregate).items():
            if isinstance(value, type) and issubclass(value, aggregate.Event) and name not in ("Event", "Created"):
                found[name] = (get_topic(value), kind)
    return found


EVENT_TYPES = _event_classes()
_KIND_OF_TOPIC = {topic: (name, kind) for name, (topic, kind) in EVENT_TYPES.items()}


def type_and_kind(topic: str) -> tuple[str, str]:
    """An event's type name and stream kind, from its stored topic."""
    if topic in _KIND_OF_TOPIC:
        return _KIND_OF_TOPIC[topic]
    return topic.rsplit(".", 1)[-1], topic.split(":")[-1].split(".")[0].lower()


def topics_for(types: list[str] | None, kinds: list[str] | None) -> list[str] | None:
    """The stored topics the filters admit (None: every event). Names must be known (KeyError if not)."""
    if not types and not kinds:
        return None
    chosen = set(types) if types else set(EVENT_TYPES)
    if kinds:
        chosen = {name for name in chosen if EVENT_TYPES[name][1] in kinds}
    return sorted(EVENT_TYPES[name][0] for name in chosen)


class Streams:
    """How many feeds each API key has open, at most ``limit``; and whether the server is shutting down."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: dict[str, int] = {}
        self.closing = threading.Event()  # set from a signal handler or the lifespan's end: feeds end
        self._lock = threading.Lock()

    def take(self, key: str) -> bool:
        with self._lock:
            if self.open.get(key, 0) >= self.limit:
                return False
            self.open[key] = self.open.get(key, 0) + 1
            return True

    def give_back(self, key: str) -> None:
        with self._lock:
            self.open[key] -= 1
            if not self.open[key]:
                del self.open[key]


class LogFeed:
    """Reads the events table after a position, on a connection of its own."""

    def __init__(self, recorder: Any) -> None:
        datastore = recorder.datastore
        self.conninfo = datastore.pool.conninfo
        self.kwargs = {k: v for k, v in datastore.pool.kwargs.items() if k != "row_factory"}
        self.channel = recorder.channel_name
        table = Identifier(datastore.schema, recorder.events_table_name)
        self.batch_query = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {table}"
            " WHERE notification_id > %(after)s AND (%(topics)s::text[] IS NULL OR topic = ANY(%(topics)s::text[]))"
            " ORDER BY notification_id LIMIT %(limit)s"
        ).format(table=table)
        self.head_query = SQL("SELECT coalesce(max(notification_id), 0) AS head FROM {table}").format(table=table)

    @asynccontextmanager
    async def connection(self, *, listen: bool) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A connection for one feed (LISTENing to the store's commits if ``listen``)."""
        conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True, row_factory=dict_row, **self.kwargs)
        try:
            if listen:
                await conn.execute(SQL("LISTEN {}").format(Identifier(self.channel)))
            yield conn
        finally:
            await conn.close()

    async def head(self, conn: psycopg.AsyncConnection[Any]) -> int:
        row = await (await conn.execute(self.head_query)).fetchone()
        return int(row["head"]) if row else 0

    async def batch(
        self, conn: psycopg.AsyncConnection[Any], after: int, topics: list[str] | None, limit: int
    ) -> list[tuple[int, StoredEvent]]:
        """Up to ``limit`` events after position ``after`` (of these topics), in log order."""
        curs = await conn.execute(self.batch_query, {"after": after, "topics": topics, "limit": limit})
        return [
            (row["notification_id"], StoredEvent(originator_id=row["originator_id"],
                                                 originator_version=row["originator_version"],
                                                 topic=row["topic"], state=bytes(row["state"])))
            for row in await curs.fetchall()
        ]

    @staticmethod
    async def wait(conn: psycopg.AsyncConnection[Any], timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a commit's NOTIFY; True if one came."""
        async for _ in conn.notifies(timeout=timeout, stop_after=1):
            return True
        return False
