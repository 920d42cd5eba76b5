"""What every read model shares: its tables, its tracking row, and batched, transactional updates."""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, Generic, TypeVar

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic
from psycopg import Cursor
from psycopg.sql import SQL, Composed, Identifier
from psycopg.types.json import Jsonb, set_json_dumps, set_json_loads

from projections import values

# View documents are plain JSON: orjson reads and writes them several times faster than json
# (values.dumps and loads fall back on json for the integers orjson cannot hold exactly).
set_json_dumps(values.dumps)
set_json_loads(values.loads)

APPLICATION = "claims"  # the tracked application's name (tracking rows are keyed by it)
NEXT = "_next"  # suffix of the tables a rebuild writes before they replace the live ones
DEFER = "DEFER "  # marks an index a rebuild may build after loading the rows (queries need it, the build not)
NOTES = "normalised"  # each view's table of the events it applied with a value normalised (values.py)
_NOTES_DDL = (
    "CREATE TABLE IF NOT EXISTS {t} (position bigint PRIMARY KEY, event text NOT NULL, notes jsonb NOT NULL,"
    " noted_at timestamptz NOT NULL DEFAULT now())"
)


class View(PostgresTrackingRecorder):
    """A read model: some tables, and a tracking row saying which event it has processed up to.

    Subclasses list their ``tables`` (logical name -> DDL with ``{t}`` for the table, ``{i}``
    for an index name prefix and ``{s}`` for the schema) and write rows only inside ``batch()``,
    so that rows and the tracking position commit together: a crash never skips or repeats an event.
    A view built with ``suffix=NEXT`` writes to a second set of tables (a rebuild).
    """

    name: ClassVar[str]
    tables: ClassVar[dict[str, list[str]]]

    def __init__(self, datastore: PostgresDatastore, *, suffix: str = "", defer_indexes: bool = False) -> None:
        self.suffix = suffix
        self.bulk = defer_indexes  # being built from the first event, in bulk (a rebuild), not yet live
        super().__init__(datastore, tracking_table_name=f"{self.name}{suffix}_tracking")
        self.deferred: dict[str, list[Composed]] = {}  # logical table -> its indexes a bulk build makes after its rows
        self.analysed: set[str] = set()  # tables a bulk build has analysed already (load_unindexed)
        for logical, statements in {**self.tables, NOTES: [_NOTES_DDL]}.items():
            for statement in statements:
                deferrable = statement.startswith(DEFER)
                composed = SQL(statement.removeprefix(DEFER)).format(
                    t=self.t(logical), i=SQL(f"{self.name}_{logical}{suffix}"), s=Identifier(datastore.schema),
                )
                if deferrable and defer_indexes:
                    self.deferred.setdefault(logical, []).append(composed)
                else:
                    self.sql_create_statements.append(composed)

    def create_deferred_indexes(self) -> None:
        """Build the indexes a bulk build went without (faster at once than row by row), then analyse.

        Fresh tables have no statistics until autovacuum gets to them: without ANALYZE the first
        reads after the swap would be planned blind. (Tables ``load_unindexed`` analysed already
        are not analysed again.)
        """
        with self.datastore.transaction(commit=True) as curs:
            for statements in self.deferred.values():
                for statement in statements:
                    curs.execute(statement)
            for name in self.all_table_names():
                if name not in self.analysed:
                    analyse(curs, Identifier(self.datastore.schema, name))
        self.deferred = {}
        self.analysed = set()
        self.bulk = False

    @contextmanager
    def load_unindexed(self, curs: Cursor[Any], logical: str) -> Iterator[None]:
        """Load one table of a bulk build without its indexes, in the caller's transaction (a set-based
        rebuild's): they are dropped (the primary key too) and made after the rows, with the deferred
        ones, and the table is analysed, all before the rows commit.

        An index kept row by row is the slower way (at a million events the claims' primary key
        on random uuids cost half the insert). And once the rows have committed, the first scan
        of the table sets every row's hint bits, so writes every page again, in full to the WAL
        (the data has checksums): the index builds and ANALYZE that scan the table in the same
        transaction see their own rows and write nothing. (At a million events, the claims' build
        42-57 s before, 32-37 s after: docs/performance.md.)
        """
        table = self.t(logical)
        constraints = curs.execute(
            "SELECT conname AS name, pg_get_constraintdef(oid) AS definition FROM pg_constraint"
            " WHERE conrelid = %s::regclass AND contype IN ('p', 'u')", (table.as_string(curs),)).fetchall()
        indexes = curs.execute(
            "SELECT indexrelid::regclass::text AS name, pg_get_indexdef(indexrelid) AS definition FROM pg_index"
            " WHERE indrelid = %s::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = indexrelid)",
            (table.as_string(curs),)).fetchall()
        for row in constraints:
            curs.execute(SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(table, Identifier(row["name"])))
        for row in indexes:
            curs.execute(SQL("DROP INDEX {}").format(SQL(row["name"])))  # (regclass text: qualified and quoted)
        yield
        for row in constraints:
            curs.execute(SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                table, Identifier(row["name"]), SQL(row["definition"])))
        for row in indexes:
            curs.execute(SQL(row["definition"]))
        for statement in self.deferred.get(logical, []):
            curs.execute(statement)
        analyse(curs, table)
        # Only now: a build that failed before this point (and is made again) still has them to make.
        self.deferred.pop(logical, None)
        self.analysed.add(self.table_name(logical))

    def vacuum(self) -> dict[str, Any]:
        """VACUUM the view's tables: mark their pages all-visible, so that index-only scans need not visit them.

        Rows a rebuild inserted are on pages no VACUUM has seen (``pg_class.relallvisible`` is 0):
        every index-only scan then reads the table as well (at 1M events, a topic's positions with
        as_of from 41 ms to 164 ms at the p99). VACUUM runs outside a transaction. It can mark only
        rows every open transaction sees: the caller waits for those older than the rows first
        (``Worker``). Answers the seconds it took and the pages now all-visible, of how many.
        """
        started = time.monotonic()
        schema, names = self.datastore.schema, self.all_table_names()
        with self.datastore.cursor() as curs:  # autocommit: VACUUM cannot run in a transaction
            for name in names:
                curs.execute(SQL("VACUUM {}").format(Identifier(schema, name)))
            row = curs.execute(
                "SELECT coalesce(sum(relpages), 0)::bigint AS pages, coalesce(sum(relallvisible), 0)::bigint AS visible"
                " FROM pg_class WHERE relnamespace = %s::regnamespace AND relname = ANY(%s)", (schema, names)
            ).fetchone()
        return {"seconds": round(time.monotonic() - started, 3), "pages": row["pages"], "all_visible": row["visible"]}

    def table_name(self, logical: str) -> str:
        return f"{self.name}_{logical}{self.suffix}"

    def scratch(self, name: str) -> Identifier:
        """A work table of this view's (a rebuild's, say), beside its tables but none of them."""
        return Identifier(self.datastore.schema, self.table_name(name))

    def t(self, logical: str) -> Identifier:
        """The schema-qualified identifier of one of this view's tables."""
        return Identifier(self.datastore.schema, self.table_name(logical))

    def q(self, template: str, **extra: Any) -> Composed:
        """A statement with ``{table}`` placeholders for this view's tables."""
        return SQL(template).format(**{name: self.t(name) for name in self.tables}, **extra)

    def all_table_names(self) -> list[str]:
        return [*(self.table_name(logical) for logical in self.tables), self.table_name(NOTES), self.tracking_table_name]

    def note(self, curs: Cursor[Any], notes: Sequence[tuple[int, str, list[str]]]) -> None:
        """Record that the events at these positions were applied with values normalised (what, in words)."""
        curs.executemany(
            SQL("INSERT INTO {} (position, event, notes) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING").format(self.t(NOTES)),
            [(position, event, Jsonb(lines)) for position, event, lines in notes],
        )

    def normalised(self) -> dict[str, Any]:
        """How many events this view applied with a value normalised, and the last of them."""
        query = SQL(
            "SELECT (SELECT count(*) FROM {t}) AS count, (SELECT jsonb_build_object('position', position,"
            " 'event', event, 'notes', notes, 'noted_at', noted_at) FROM {t} ORDER BY position DESC LIMIT 1) AS last"
        ).format(t=self.t(NOTES))
        with self.datastore.transaction(commit=False) as curs:
            row = curs.execute(query).fetchone()
        return {"count": row["count"], "last": row["last"]}

    @contextmanager
    def batch(self, tracking: Tracking) -> Iterator[Cursor[Any]]:
        """A transaction in which to write rows; it records ``tracking`` before it commits.

        Its commit does not wait for the disk (synchronous_commit off, for this transaction only):
        the rows and the tracking position are one transaction, so a crash can only lose the last
        few batches whole, and the projection applies them again from the log after a restart.
        Readers see the rows at once either way. Events themselves are committed durably.
        """
        with self.datastore.transaction(commit=True) as curs:
            curs.execute("SET LOCAL synchronous_commit TO OFF")
            yield curs
            self._insert_tracking(curs, tracking)

    def position(self) -> int:
        """The position of the last event this view has processed (0: none)."""
        return self.max_tracking_id(APPLICATION) or 0

    def drop(self) -> None:
        """Drop this view's tables (a rebuild starts from empty ones)."""
        with self.datastore.transaction(commit=True) as curs:
            for name in self.all_table_names():
                curs.execute(SQL("DROP TABLE IF EXISTS {} CASCADE").format(Identifier(self.datastore.schema, name)))

    def replace(self, live: View) -> None:
        """Atomically put this (rebuilt) view's tables in place of ``live``'s."""
        schema = self.datastore.schema
        with self.datastore.transaction(commit=True) as curs:
            for mine, theirs in zip(self.all_table_names(), live.all_table_names(), strict=True):
                curs.execute(SQL("DROP TABLE IF EXISTS {} CASCADE").format(Identifier(schema, theirs)))
                curs.execute(SQL("ALTER TABLE {} RENAME TO {}").format(Identifier(schema, mine), Identifier(theirs)))
                indexes = curs.execute(
                    "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = %s", (schema, theirs)
                ).fetchall()
                for row in indexes:
                    index = row["indexname"]
                    if self.suffix in index:
                        curs.execute(
                            SQL("ALTER INDEX {} RENAME TO {}").format(
                                Identifier(schema, index), Identifier(index.replace(self.suffix, "", 1))
                            )
                        )


def analyse(curs: Cursor[Any], table: Identifier) -> None:
    """ANALYZE a table: the columns with a statistics target above the default on their own.

    ANALYZE samples 300 rows per unit of the largest target of the columns it is given, and
    computes every column's statistics on that sample: the claims' speakers (target 1000) made it
    read and sort 300,000 rows for each column (at a million events 4.3 s; speakers alone 2.0,
    the others together 0.5).
    """
    columns = curs.execute(
        "SELECT attname AS name, coalesce(attstattarget, -1) > current_setting('default_statistics_target')::int AS big"
        " FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped"
        " AND coalesce(attstattarget, -1) <> 0", (table.as_string(curs),)).fetchall()
    big = [Identifier(row["name"]) for row in columns if row["big"]]
    if not big:
        curs.execute(SQL("ANALYZE {}").format(table))
        return
    rest = [Identifier(row["name"]) for row in columns if not row["big"]]
    for group in (big, rest):
        if group:
            curs.execute(SQL("ANALYZE {} ({})").format(table, SQL(", ").join(group)))


TView = TypeVar("TView", bound=View)


class BatchProjection(Projection[TView], Generic[TView]):
    """A projection applied a batch of events at a time, in one transaction per batch."""

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:  # type: ignore[override]
        """The library's one-event interface (for its ProjectionRunner): a batch of one."""
        self.process_batch([(tracking.notification_id, domain_event)], tracking)

    def process_batch(
        self, events: Sequence[tuple[int, Any]], tracking: Tracking, notes: Sequence[tuple[int, str, list[str]]] = (),
    ) -> None:
        """Apply ``events`` ((log position, event) pairs, in log order) and record ``tracking``, atomically.

        ``notes`` (position, event type, what was normalised) are recorded in the same transaction.
        """
        with self.view.batch(tracking) as curs:
            self.apply_batch(curs, events)
            if notes:
                self.view.note(curs, notes)

    @abstractmethod
    def apply_batch(self, curs: Cursor[Any], events: Sequence[tuple[int, Any]]) -> None:
        """Write what ``events`` change to the view's tables."""


def topics_of(*classes: type) -> tuple[str, ...]:
    """The stored topics of some event classes (a projection reads only the events it handles)."""
    return tuple(get_topic(cls) for cls in classes)
