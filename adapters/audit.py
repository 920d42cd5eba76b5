"""The tamper-evident log: every stored event is chained to the one before it by SHA-256.

(Past 400 lines on purpose: the chain's SQL trigger and its Python twin, ``canonical()``, must
stay byte for byte the same, and verification is read against both; they are kept in one file.)

``hash(n) = SHA-256(hash(n-1) ‖ canonical(event n) ‖ int8(position n))``, starting from
32 zero bytes. A trigger on the events table computes it in the transaction that stores
the event (the library's recorder locks the table for each insert transaction, so
events are chained in position order) and writes it to ``event_chain``: once per
statement (an INSERT, the COPY of a batch), over the rows it stored, in position order. Other triggers
refuse UPDATE, DELETE and TRUNCATE on both tables. ``verify`` re-hashes the log in
Python from the stored bytes and compares it with ``event_chain``.

The canonical bytes are defined twice, byte for byte the same: ``canonical()`` here and the
SQL function ``claims_events_canonical`` in ``_INSTALL``; see docs/security.md. Positions may have gaps (a rolled-back insert still consumes a
sequence number), so each event is chained to the *previous stored* event, not to
``position - 1``.
"""

from __future__ import annotations

import hashlib
import logging
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresDatastore
import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

log = logging.getLogger(__name__)

GENESIS = bytes(32)
CHAIN_TABLE = "event_chain"
# Marks the chain table with the version of the functions and triggers installed; bump it when they change.
VERSION = "claims hash chain v2"  # v2: the chain trigger runs once per statement (v1: per row)
_NULL = b"\xff\xff\xff\xff"  # a NULL field: length -1, as in PostgreSQL's own binary format
BATCH = 5_000


def canonical(originator_id: str, originator_version: int, topic: str | None, state: bytes | None) -> bytes:
    """The bytes of a stored event that its hash covers: each variable field length-prefixed.

    ``int4(len) ‖ utf8(originator_id as text) ‖ int8(originator_version) ‖ int4(len) ‖ utf8(topic)
    ‖ int4(len) ‖ state``; integers big-endian signed; a NULL field is ``int4(-1)`` alone.
    """
    return (
        _field(originator_id.encode())
        + struct.pack(">q", originator_version)
        + _field(None if topic is None else topic.encode())
        + _field(state)
    )


def link(prev_hash: bytes, canonical_bytes: bytes, position: int) -> bytes:
    """The hash of the event at ``position``, chained to ``prev_hash``."""
    return hashlib.sha256(prev_hash + canonical_bytes + struct.pack(">q", position)).digest()


def _field(value: bytes | None) -> bytes:
    return _NULL if value is None else struct.pack(">i", len(value)) + value


@dataclass(frozen=True)
class Verification:
    """What re-hashing the log found. ``prefix_head``: the hash after the first ``prefix`` events."""

    ok: bool
    events: int
    head: bytes
    first_bad_position: int | None = None
    reason: str | None = None
    prefix: int | None = None
    prefix_head: bytes | None = None
    head_position: int = 0  # the position of the last event verified (0: none)
    resumed_after: int = 0  # the walk started after this position, remembered as verified before (0: a full walk)

    def as_dict(self) -> dict[str, Any]:
        """The answer of ``GET /v1/audit/verify``."""
        if self.ok:
            return {"ok": True, "events": self.events, "head": self.head.hex()}
        return {"ok": False, "first_bad_position": self.first_bad_position, "reason": self.reason}


@dataclass(frozen=True)
class AuditEvent:
    """One entry of the global log, with its link in the chain (None where the chain has none)."""

    position: int
    stream: str
    version: int
    topic: str
    state: bytes | None
    hash: bytes | None
    prev_hash: bytes | None

    @property
    def type(self) -> str:
        """The event class's name: the topic after its last '.'."""
        return self.topic.rsplit(".", 1)[-1]


class AuditLog:
    """The hash chain over one application's events table."""

    def __init__(self, datastore: PostgresDatastore, events_table: str) -> None:
        self.datastore = datastore
        self.schema = datastore.schema or "public"
        self.events_table = events_table
        self._names = {
            "schema": sql.Identifier(self.schema),
            "events": sql.Identifier(events_table),
            "chain": sql.Identifier(CHAIN_TABLE),
            "canonical": sql.Identifier(f"{events_table}_canonical"),
            "append": sql.Identifier(f"{events_table}_chain_append"),
            "on_insert": sql.Identifier(f"{events_table}_chain_inserted"),
            "chain_trigger": sql.Identifier(f"{events_table}_chain"),
            "v1_on_insert": sql.Identifier(f"{events_table}_chain_insert"),
            "backfill": sql.Identifier(f"{events_table}_chain_backfill"),
            "refuse": sql.Identifier(f"{events_table}_append_only"),
            # Literal keys of the advisory locks that serialise chain appends and installs (per schema).
            "chain_lock": sql.Literal(_lock_key(f"chain:{self.schema}.{events_table}")),
            "install_lock": sql.Literal(_lock_key(f"install:{self.schema}.{events_table}")),
        }

    @classmethod
    def of(cls, app: Any) -> AuditLog:
        """The audit log of an eventsourcing application on PostgreSQL."""
        return cls(app.recorder.datastore, app.recorder.events_table_name)

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(**self._names)

    # -- installing the triggers --------------------------------------------------------

    def install(self) -> int:
        """Create the chain table and the triggers if missing; chain events stored without them.

        Idempotent, and safe with several processes starting at once. Answers how many
        events were chained here (those stored before the trigger existed).
        """
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._q("SELECT pg_advisory_xact_lock({install_lock})"))
            self._create(curs)
            behind = curs.execute(self._q(
                "SELECT EXISTS (SELECT 1 FROM {schema}.{events} WHERE notification_id > "
                "coalesce((SELECT max(position) FROM {schema}.{chain}), 0)) AS behind"
            )).fetchone()
            if not behind or not behind["behind"]:
                return 0
            head = curs.execute(self._q("SELECT max(position) AS head FROM {schema}.{chain}")).fetchone()
            # The library's own lock: no event can be stored while the missing ones are chained.
            curs.execute(self._q("LOCK TABLE {schema}.{events} IN EXCLUSIVE MODE"))
            row = curs.execute(self._q("SELECT {schema}.{backfill}() AS chained")).fetchone()
            chained = int(row["chained"]) if row else 0
        if head and head["head"] is not None:
            log.warning(
                "chained %d event(s) stored after position %d while the chain trigger was missing",
                chained, head["head"],
            )
        elif chained:
            log.info("chained %d event(s) stored before the tamper-evident log was installed", chained)
        return chained

    def _create(self, curs: Any) -> None:
        """The table, functions and triggers, unless this version of them is all there already.

        Skipping the DDL when nothing is missing means no DDL lock at each start, and lets a
        role that does not own these objects start the service (see docs/security.md). The
        install statements drop an older version's chain trigger; it is made again below.
        """
        marker = curs.execute(
            "SELECT obj_description(c.oid, 'pg_class') AS marker FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
            (self.schema, CHAIN_TABLE),
        ).fetchone()
        if marker is not None and marker["marker"] == VERSION and not self._missing(curs):
            return
        for statement in _INSTALL:
            curs.execute(self._q(statement))
        comment = sql.SQL("COMMENT ON TABLE {schema}.{chain} IS {version}")
        curs.execute(comment.format(version=sql.Literal(VERSION), **self._names))
        for trigger, statement in self._missing(curs):
            curs.execute(sql.SQL(statement).format(trigger=sql.Identifier(trigger), **self._names))

    def _missing(self, curs: Any) -> list[tuple[str, str]]:
        """The triggers not there: (name, its CREATE statement)."""
        existing = {
            (row["relname"], row["tgname"])
            for row in curs.execute(
                "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND NOT t.tgisinternal",
                (self.schema,),
            ).fetchall()
        }
        return [(trigger, create) for table, trigger, create in self._triggers() if (table, trigger) not in existing]

    def _triggers(self) -> list[tuple[str, str, str]]:
        events, chain = self.events_table, CHAIN_TABLE
        return [
            (events, f"{events}_chain", "CREATE TRIGGER {trigger} AFTER INSERT ON {schema}.{events} "
             "REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION {schema}.{on_insert}()"),
            (events, f"{events}_append_only", "CREATE TRIGGER {trigger} BEFORE UPDATE OR DELETE OR TRUNCATE "
             "ON {schema}.{events} FOR EACH STATEMENT EXECUTE FUNCTION {schema}.{refuse}()"),
            (chain, f"{chain}_append_only", "CREATE TRIGGER {trigger} BEFORE UPDATE OR DELETE OR TRUNCATE "
             "ON {schema}.{chain} FOR EACH STATEMENT EXECUTE FUNCTION {schema}.{refuse}()"),
        ]

    # -- reading --------------------------------------------------------------------------

    def head(self) -> tuple[int, bytes]:
        """How many events the chain holds, and the hash of its last (genesis when empty): one snapshot."""
        with self.datastore.transaction(commit=False) as curs:
            row = curs.execute(self._q(
                "SELECT count(*) AS size, (SELECT hash FROM {schema}.{chain} ORDER BY position DESC LIMIT 1) AS head "
                "FROM {schema}.{chain}"
            )).fetchone()
        assert row is not None
        return int(row["size"]), bytes(row["head"]) if row["head"] is not None else GENESIS

    def page(self, after: int, limit: int) -> list[AuditEvent]:
        """Up to ``limit`` events after position ``after``, each with its chain link."""
        with self.datastore.transaction(commit=False) as curs:
            rows = curs.execute(self._q(
                "SELECT e.notification_id, e.originator_id::text AS stream, e.originator_version, e.topic, e.state, "
                "c.hash, c.prev_hash FROM {schema}.{events} e LEFT JOIN {schema}.{chain} c "
                "ON c.position = e.notification_id WHERE e.notification_id > %s ORDER BY e.notification_id LIMIT %s"
            ), (after, limit)).fetchall()
        return [
            AuditEvent(
                position=r["notification_id"], stream=r["stream"], version=r["originator_version"], topic=r["topic"],
                state=_bytes(r["state"]), hash=_bytes(r["hash"]), prev_hash=_bytes(r["prev_hash"]),
            )
            for r in rows
        ]

    def verify(
        self, prefix: int | None = None, *, connection: Any = None, resume: bool = False
    ) -> Verification:
        """Re-hash the log from the events table and compare with the chain, in batches.

        Reports the first position where they part: an event changed (hash mismatch), missing
        (the chain has it, the table not), or added (no chain entry), or the chain itself
        broken (a link whose prev_hash is not the hash before it). With ``prefix``, also
        gives the hash after the first ``prefix`` events (to compare with a checkpoint).

        With ``resume``, the walk starts after the point the last intact verification
        remembered (``audit_verified``), once that point still checks out: the chain still
        holds its hash there and both tables still hold as many entries up to it. What that
        cannot see (an event before the point rewritten in place with its chain entries) only
        the full walk finds; see docs/security.md. An intact answer moves the point forward.
        ``connection``: run on this connection (not one of the pool's), e.g. a long-read lane's.
        """
        if connection is None:
            with self.datastore.get_connection() as conn:
                return self.verify(prefix, connection=conn, resume=resume)
        conn = connection
        with conn.transaction(force_rollback=True):
            # One snapshot for both tables, read through server-side cursors a batch at a time.
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            start = self._resume_point(conn) if resume and prefix is None else None
            after, prev, count = start or (0, GENESIS, 0)
            with (
                conn.cursor(name="audit_events", row_factory=tuple_row) as events,
                conn.cursor(name="audit_chain", row_factory=tuple_row) as chain,
            ):
                events.itersize = chain.itersize = BATCH
                events.execute(self._q(
                    "SELECT notification_id, originator_id::text, originator_version, topic, state "
                    "FROM {schema}.{events} WHERE notification_id > %s ORDER BY notification_id"
                ), (after,))
                chain.execute(self._q(
                    "SELECT position, hash, prev_hash FROM {schema}.{chain} WHERE position > %s ORDER BY position"
                ), (after,))
                result = self._compare(_merge(iter(events), iter(chain)), prefix, prev, count, after)
        if result.ok and result.head_position > after:
            self._remember(conn, result)
        return result

    # -- the point the last intact verification reached ------------------------------------

    def _verified_table(self) -> sql.Composed:
        return self._q("{schema}.audit_verified")

    def _resume_point(self, conn: Any) -> tuple[int, bytes, int] | None:
        """(position, hash, events) the last intact walk reached, if the log up to it still checks out."""
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{self.schema}".audit_verified',)).fetchone()
        if not exists or not _first(exists):
            return None
        row = conn.execute(sql.SQL("SELECT position, hash, events FROM {} WHERE events_table = %s").format(
            self._verified_table()), (self.events_table,)).fetchone()
        if row is None:
            return None
        position, digest, events = (row[k] for k in ("position", "hash", "events")) if isinstance(row, dict) else row
        check = conn.execute(self._q(
            "SELECT (SELECT hash FROM {schema}.{chain} WHERE position = %(p)s) AS hash,"
            " (SELECT count(*) FROM {schema}.{chain} WHERE position <= %(p)s) AS chained,"
            " (SELECT count(*) FROM {schema}.{events} WHERE notification_id <= %(p)s) AS stored"
        ), {"p": position}).fetchone()
        found = tuple(check.values()) if isinstance(check, dict) else tuple(check)
        if found[0] is None or bytes(found[0]) != bytes(digest) or found[1] != events or found[2] != events:
            log.warning("the log up to position %d no longer matches its last verification: walking it all", position)
            return None  # the full walk finds where
        return int(position), bytes(digest), int(events)

    def _remember(self, conn: Any, result: Verification) -> None:
        try:
            self._write_point(conn, result)
        except psycopg.Error as e:  # a role that may only read still verifies; the next walk starts further back
            log.warning("could not remember the verified point %d: %s", result.head_position, e)

    def _write_point(self, conn: Any, result: Verification) -> None:
        with conn.transaction():
            exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{self.schema}".audit_verified',)).fetchone()
            if not _first(exists):
                conn.execute(sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (events_table text PRIMARY KEY, position bigint NOT NULL,"
                    " hash bytea NOT NULL, events bigint NOT NULL, verified_at timestamptz NOT NULL DEFAULT now())"
                ).format(self._verified_table()))
            conn.execute(sql.SQL(
                "INSERT INTO {t} AS v (events_table, position, hash, events) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (events_table) DO UPDATE SET position = EXCLUDED.position, hash = EXCLUDED.hash,"
                " events = EXCLUDED.events, verified_at = now() WHERE v.position < EXCLUDED.position"
            ).format(t=self._verified_table()), (self.events_table, result.head_position, result.head, result.events))

    @staticmethod
    def _compare(
        rows: Iterator[tuple[int, Any, Any]], prefix: int | None,
        prev: bytes = GENESIS, count: int = 0, after: int = 0,
    ) -> Verification:
        prefix_head = GENESIS if prefix == 0 else None
        last = after

        def bad(position: int, reason: str) -> Verification:
            return Verification(False, count, prev, position, reason, prefix, prefix_head, last, after)

        for position, event, link_row in rows:
            if event is None:
                return bad(position, f"the chain has an event at position {position} that the events table "
                                     "no longer holds (deleted)")
            if link_row is None:
                return bad(position, f"the event at position {position} has no entry in the chain "
                                     "(inserted outside the event store, or the chain was cut)")
            _, stream, version, topic, state = event
            _, recorded_hash, recorded_prev = link_row
            if bytes(recorded_prev) != prev:
                return bad(position, f"the chain is broken at position {position}: its prev_hash is not the "
                                     "hash of the event before it (an event before it was removed or inserted)")
            digest = link(prev, canonical(stream, version, topic, _bytes(state)), position)
            if digest != bytes(recorded_hash):
                return bad(position, f"the event at position {position} does not hash to its recorded hash "
                                     "(the event or its chain entry was changed)")
            prev, count, last = digest, count + 1, position
            if count == prefix:
                prefix_head = digest
        return Verification(True, count, prev, prefix=prefix, prefix_head=prefix_head, head_position=last,
                            resumed_after=after)


def decode_timestamp(app: Any, event: AuditEvent) -> datetime | None:
    """The event's timestamp (its recorded_at), decoded by the application's mapper; None if it won't decode."""
    if event.state is None:
        return None
    try:
        stored = StoredEvent(
            originator_id=event.stream, originator_version=event.version, topic=event.topic, state=event.state
        )
        return app.mapper.to_domain_event(stored).timestamp
    except Exception:  # noqa: BLE001  (a tampered or unknown event still has a place in the log)
        return None


def _merge(events: Iterator[tuple[Any, ...]], chain: Iterator[tuple[Any, ...]]) -> Iterator[tuple[int, Any, Any]]:
    """Both position-ordered streams, side by side: (position, event row or None, chain row or None)."""
    event, link_row = next(events, None), next(chain, None)
    while event is not None or link_row is not None:
        if link_row is None or (event is not None and event[0] < link_row[0]):
            yield event[0], event, None  # type: ignore[index]
            event = next(events, None)
        elif event is None or link_row[0] < event[0]:
            yield link_row[0], None, link_row
            link_row = next(chain, None)
        else:
            yield event[0], event, link_row
            event, link_row = next(events, None), next(chain, None)


def _first(row: Any) -> Any:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


def _bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"claims:{name}".encode()).digest()[:8], "big", signed=True)


# Run in order by ``install``; every statement is idempotent. The canonical encoding below must
# match ``canonical()`` above byte for byte.
_INSTALL = [
    "CREATE TABLE IF NOT EXISTS {schema}.{chain} ("
    " position bigint PRIMARY KEY, hash bytea NOT NULL, prev_hash bytea NOT NULL)",
    r"""
CREATE OR REPLACE FUNCTION {schema}.{canonical}(originator_id text, originator_version bigint, topic text, state bytea)
RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(int4send(octet_length(convert_to(originator_id, 'UTF8'))) || convert_to(originator_id, 'UTF8'),
                  '\xffffffff'::bytea)
      || int8send(originator_version)
      || coalesce(int4send(octet_length(convert_to(topic, 'UTF8'))) || convert_to(topic, 'UTF8'), '\xffffffff'::bytea)
      || coalesce(int4send(octet_length(state)) || state, '\xffffffff'::bytea)
$$""",
    r"""
CREATE OR REPLACE FUNCTION {schema}.{append}(new_position bigint, event bytea) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  head_position bigint;
  prev bytea;
BEGIN
  -- The recorder's table lock already serialises inserts; this also covers any other writer.
  PERFORM pg_advisory_xact_lock({chain_lock});
  SELECT position, hash INTO head_position, prev FROM {schema}.{chain} ORDER BY position DESC LIMIT 1;
  IF head_position IS NULL THEN
    prev := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
  ELSIF new_position <= head_position THEN
    RAISE EXCEPTION 'event at position % cannot be chained after position %', new_position, head_position
      USING HINT = 'events are chained in position order: store them through the event store, which locks the table';
  END IF;
  INSERT INTO {schema}.{chain} (position, hash, prev_hash)
    VALUES (new_position, sha256(prev || event || int8send(new_position)), prev);
END
$$""",
    # v1 chained each row from a trigger call of its own (FOR EACH ROW: ~45 µs a row in a 10k-row COPY,
    # against ~15-20 now); v2 chains a
    # statement's rows in one call, from its transition table.
    "DROP TRIGGER IF EXISTS {chain_trigger} ON {schema}.{events}",
    "DROP FUNCTION IF EXISTS {schema}.{v1_on_insert}()",
    r"""
CREATE OR REPLACE FUNCTION {schema}.{on_insert}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  head_position bigint;
  prev bytea;
  e record;
  positions bigint[] := ARRAY[]::bigint[];
  hashes bytea[] := ARRAY[]::bytea[];
  prevs bytea[] := ARRAY[]::bytea[];
BEGIN
  -- What {append} does for one event, for every event the statement stored, in position order.
  PERFORM pg_advisory_xact_lock({chain_lock});
  SELECT position, hash INTO head_position, prev FROM {schema}.{chain} ORDER BY position DESC LIMIT 1;
  IF head_position IS NULL THEN
    prev := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
  END IF;
  FOR e IN SELECT notification_id AS position,
                  {schema}.{canonical}(originator_id::text, originator_version, topic, state) AS bytes
           FROM inserted ORDER BY notification_id LOOP
    IF e.position <= head_position THEN
      RAISE EXCEPTION 'event at position % cannot be chained after position %', e.position, head_position
        USING HINT = 'events are chained in position order: store them through the event store, which locks the table';
    END IF;
    prevs := array_append(prevs, prev);
    prev := sha256(prev || e.bytes || int8send(e.position));
    positions := array_append(positions, e.position);
    hashes := array_append(hashes, prev);
    head_position := e.position;
  END LOOP;
  INSERT INTO {schema}.{chain} (position, hash, prev_hash) SELECT * FROM unnest(positions, hashes, prevs);
  RETURN NULL;
END
$$""",
    """
CREATE OR REPLACE FUNCTION {schema}.{backfill}() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  head_position bigint;
  e record;
  chained bigint := 0;
BEGIN
  SELECT max(position) INTO head_position FROM {schema}.{chain};
  FOR e IN SELECT notification_id, originator_id::text AS stream, originator_version, topic, state
           FROM {schema}.{events} WHERE notification_id > coalesce(head_position, 0) ORDER BY notification_id LOOP
    PERFORM {schema}.{append}(e.notification_id,
      {schema}.{canonical}(e.stream, e.originator_version, e.topic, e.state));
    chained := chained + 1;
  END LOOP;
  RETURN chained;
END
$$""",
    """
CREATE OR REPLACE FUNCTION {schema}.{refuse}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% on %.% refused: the event log is append-only', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
    USING HINT = 'a correction, retraction or merge is a new event; nothing stored is updated or deleted';
END
$$""",
]
