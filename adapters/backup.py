"""A backup of the whole log as NDJSON, and its restore into an empty store, byte for byte.

The file: a header line, one line per event (its position, stream, version, topic, the stored
bytes in base64, and its link in the hash chain), and a closing line with the count and the
chain's head. Both directions stream, a batch at a time: memory stays flat whatever the size.

Export reads one snapshot (REPEATABLE READ) through a server-side cursor and re-hashes as it
goes, so a backup of a log that does not verify is refused, not written. It writes FILE.partial
and renames it when complete.

Import checks every line as it reads it (well-formed, positions rising, each hash the one its
bytes and the hash before give) and COPYs the events in with their own positions, all in one
transaction: the chain trigger hashes them again on the way in, the same positions and bytes
give the same chain, and the closing line's head must be the store's head before it commits.
The first bad line stops it and nothing is kept. The store must be empty (checked under the
event store's own table lock), and the position sequence is moved past the last position.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from uuid import UUID

import orjson
from psycopg import sql
from psycopg.rows import tuple_row

from adapters.audit import CHAIN_TABLE, GENESIS, canonical, link

FORMAT = "claims-log"
VERSION = 1
BATCH = 5_000
_EVENT_FIELDS = ("position", "stream", "version", "topic", "state", "hash", "prev_hash")

Progress = Callable[[int], None]  # told how many events (export) or bytes (import) are done since last told


@dataclass(frozen=True)
class Summary:
    events: int
    head: bytes


class BackupRefused(Exception):
    """An export or import that was refused; ``line``: the file's first bad line, when that is the reason."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {reason}" if line is not None else reason)
        self.reason = reason
        self.line = line


class Backup:
    """Export and import of one application's events table (and its hash chain)."""

    def __init__(self, datastore: Any, events_table: str) -> None:
        self.datastore = datastore
        schema = datastore.schema or "public"
        self.events = sql.Identifier(schema, events_table)
        self.chain = sql.Identifier(schema, CHAIN_TABLE)
        self.events_name = f"{schema}.{events_table}"

    @classmethod
    def of(cls, app: Any) -> Backup:
        return cls(app.recorder.datastore, app.recorder.events_table_name)

    # -- export ---------------------------------------------------------------------------

    def count(self) -> int:
        with self.datastore.transaction(commit=False) as curs:
            row = curs.execute(sql.SQL("SELECT count(*) AS n FROM {}").format(self.events)).fetchone()
        return int(row["n"]) if row else 0

    def export(self, path: Path, progress: Progress = lambda n: None) -> Summary:
        """Write the whole log to ``path`` (via ``path``.partial, renamed when complete)."""
        partial = path.with_name(path.name + ".partial")
        prev, count = GENESIS, 0
        try:
            with self.datastore.get_connection() as conn, conn.transaction(force_rollback=True), \
                    partial.open("wb") as out:
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                out.write(orjson.dumps({"format": FORMAT, "version": VERSION,
                                        "exported_at": datetime.now(UTC).isoformat()}) + b"\n")
                with conn.cursor(name="backup_export", row_factory=tuple_row) as curs:
                    curs.itersize = BATCH
                    curs.execute(sql.SQL(
                        "SELECT e.notification_id, e.originator_id::text, e.originator_version, e.topic, e.state,"
                        " c.hash, c.prev_hash FROM {events} e LEFT JOIN {chain} c ON c.position = e.notification_id"
                        " ORDER BY e.notification_id"
                    ).format(events=self.events, chain=self.chain))
                    for position, stream, version, topic, state, hash_, prev_hash in curs:
                        state = bytes(state)
                        digest = link(prev, canonical(stream, version, topic, state), position)
                        if hash_ is None or bytes(hash_) != digest or bytes(prev_hash) != prev:
                            raise BackupRefused(f"the log does not verify at position {position}: "
                                                "run `claims audit verify`; no backup was written")
                        out.write(orjson.dumps({
                            "position": position, "stream": stream, "version": version, "topic": topic,
                            "state": base64.b64encode(state).decode(), "hash": digest.hex(), "prev_hash": prev.hex(),
                        }) + b"\n")
                        prev, count = digest, count + 1
                        if count % 1_000 == 0:
                            progress(1_000)
                out.write(orjson.dumps({"end": True, "events": count, "head": prev.hex()}) + b"\n")
                out.flush()
                os.fsync(out.fileno())
            progress(count % 1_000)
            partial.replace(path)
        finally:
            partial.unlink(missing_ok=True)
        return Summary(count, prev)

    # -- import ---------------------------------------------------------------------------

    def import_(self, lines: IO[bytes], progress: Progress = lambda n: None) -> Summary:
        """Restore a backup into this (empty) store, in one transaction; BackupRefused names the first bad line."""
        with self.datastore.transaction(commit=True) as curs:
            # The event store's own lock: nothing is stored meanwhile, and an empty store stays empty.
            curs.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(self.events))
            held = curs.execute(sql.SQL("SELECT count(*) AS n FROM (SELECT 1 FROM {} LIMIT 1) AS any_event")
                                .format(self.events)).fetchone()
            if held and held["n"]:
                raise BackupRefused("the store is not empty: a backup is imported only into an empty store "
                                    "(a new CLAIMS_HOME, or a new database or schema)")
            reader = _Reader(lines, progress)
            with curs.copy(sql.SQL(
                "COPY {} (notification_id, originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY)"
            ).format(self.events)) as copy:
                copy.set_types(["int8", "uuid", "int8", "text", "bytea"])
                for row in reader.events():
                    copy.write_row(row)
            summary = reader.summary
            if summary.events:
                curs.execute("SELECT setval(pg_get_serial_sequence(%s, 'notification_id'), %s)",
                             (self.events_name, reader.last_position))
            row = curs.execute(sql.SQL("SELECT count(*) AS n, (SELECT hash FROM {chain} ORDER BY position DESC LIMIT 1)"
                                       " AS head FROM {chain}").format(chain=self.chain)).fetchone()
            head = bytes(row["head"]) if row and row["head"] is not None else GENESIS
            if not row or row["n"] != summary.events or head != summary.head:
                raise BackupRefused(f"the store's chain came out as {row and row['n']} events with head {head.hex()}, "
                                    f"not the file's {summary.events} with head {summary.head.hex()}; nothing imported")
        return summary


class _Reader:
    """The lines of a backup, checked one by one as they are read."""

    def __init__(self, lines: Iterable[bytes], progress: Progress) -> None:
        self.lines = lines
        self.progress = progress
        self.last_position = 0
        self.summary = Summary(0, GENESIS)

    def events(self) -> Iterable[tuple[int, UUID, int, str, bytes]]:
        """Each event's row for COPY; at the end, ``summary`` is the file's count and head (checked)."""
        prev, count, number, ended = GENESIS, 0, 0, False
        for number, raw in enumerate(self.lines, start=1):  # noqa: B007  (number is used after the loop)
            self.progress(len(raw))
            if not raw.strip():
                raise BackupRefused("an empty line", number)
            try:
                item = orjson.loads(raw)
            except orjson.JSONDecodeError as e:
                raise BackupRefused(f"not JSON ({e})", number) from None
            if not isinstance(item, dict):
                raise BackupRefused("not a JSON object", number)
            if number == 1:
                if item.get("format") != FORMAT or item.get("version") != VERSION:
                    raise BackupRefused(f"not a backup of this service (expected format {FORMAT!r}, version {VERSION})", 1)
                continue
            if ended:
                raise BackupRefused("a line after the closing line", number)
            if item.get("end") is True:
                if item.get("events") != count or item.get("head") != prev.hex():
                    raise BackupRefused(f"the closing line says {item.get('events')} events with head "
                                        f"{item.get('head')}, the file holds {count} with head {prev.hex()}", number)
                ended = True
                continue
            row, digest = self._event(item, prev, number)
            yield row
            prev, count, self.last_position = digest, count + 1, row[0]
        if number == 0:
            raise BackupRefused("the file is empty", 1)
        if not ended:
            raise BackupRefused("the file ends without its closing line (it was cut short)", number + 1)
        self.summary = Summary(count, prev)

    def _event(self, item: dict[str, Any], prev: bytes, number: int) -> tuple[tuple[int, UUID, int, str, bytes], bytes]:
        missing = [name for name in _EVENT_FIELDS if name not in item]
        if missing:
            raise BackupRefused(f"an event needs {', '.join(missing)}", number)
        position, version, stream, topic = item["position"], item["version"], item["stream"], item["topic"]
        if not isinstance(position, int) or isinstance(position, bool) or position <= self.last_position:
            raise BackupRefused(f"position {position!r} does not follow position {self.last_position}", number)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise BackupRefused(f"version {version!r} is not a whole number from 1", number)
        if not isinstance(topic, str) or not isinstance(stream, str):
            raise BackupRefused("stream and topic must be text", number)
        try:
            stream_id = UUID(stream)
            state = base64.b64decode(item["state"], validate=True)
            recorded, recorded_prev = bytes.fromhex(item["hash"]), bytes.fromhex(item["prev_hash"])
        except (TypeError, ValueError, binascii.Error) as e:
            raise BackupRefused(f"stream, state, hash or prev_hash is not well-formed ({e})", number) from None
        if recorded_prev != prev:
            raise BackupRefused(f"prev_hash at position {position} is not the hash of the event before it", number)
        digest = link(prev, canonical(str(stream_id), version, topic, state), position)
        if digest != recorded:
            raise BackupRefused(f"the event at position {position} does not hash to its recorded hash (damaged)", number)
        return (position, stream_id, version, topic, state), digest
