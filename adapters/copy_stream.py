"""A batch's events COPYed into the store while the rest of the batch is still being checked.

``ClaimsRecorder.insert_events`` stores a save's events once all of them are made; PostgreSQL
then works (COPY, the hash chain's statement trigger, the commit) while Python waits: about a
fifth of a 10,000-claim batch's time (docs/performance.md, "Third round"). A ``CopyStream``
opens the save's transaction on the first chunk and COPYs each chunk, one COPY statement each,
from a thread of its own (psycopg waits for the server with the GIL released), while the caller
checks and encodes the next chunk: the server's work overlaps Python's.

The save is as ``insert_events`` makes it: one transaction under the same table lock (taken with
the first chunk and held to the commit), NOTIFY, positions read as the rows above the head read
under that lock, and each statement's rows chained by the trigger in position order after the
rows before them. A batch that is refused after some chunks went in is rolled back (``abandon``):
nothing of it is stored. Should the connection break, the chunks sent so far are stored again
through ``insert_events``, which retries as every call does (``retry_briefly``).
"""

from __future__ import annotations

import queue
import struct
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent

if TYPE_CHECKING:
    from adapters.recorder import ClaimsRecorder

_COMMIT, _ABANDON = object(), object()
# PostgreSQL's binary COPY format: signature, flags, header extension; per row its field count and
# each field's length and bytes (uuid: 16, int8: 8, text and bytea: as they are); -1 to end.
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_TRAILER = struct.pack("!h", -1)
_ROW_HEAD = struct.Struct("!hi16siqi")  # 4 fields; uuid; version; the topic's length
_LENGTH = struct.Struct("!i")


def binary_rows(stored_events: Sequence[StoredEvent]) -> bytes:
    """One COPY statement's data (uuid ids): the events' rows in PostgreSQL's binary format.

    Made by the caller's thread, so that the writing thread only sends (a thread that needs the
    GIL for every row gets it once per switch interval, 5 ms, while the caller runs: the rows then
    reached the server late, and the commit waited for them, measured).
    """
    parts = [_SIGNATURE]
    for e in stored_events:
        topic = e.topic.encode()
        parts.append(_ROW_HEAD.pack(4, 16, e.originator_id.bytes, 8, e.originator_version, len(topic)))
        parts.append(topic)
        parts.append(_LENGTH.pack(len(e.state)))
        parts.append(e.state)
    parts.append(_TRAILER)
    return b"".join(parts)


class _Abandoned(Exception):  # noqa: N818  (not an error: rolls the transaction back)
    """The caller refused the batch: roll back what was sent."""


class CopyStream:
    """One transaction storing chunks of stored events as they come (``send``), then ``commit`` or ``abandon``."""

    def __init__(self, recorder: ClaimsRecorder) -> None:
        self.recorder = recorder
        self._sent: list[StoredEvent] = []
        self._chunks: queue.SimpleQueue[Any] = queue.SimpleQueue()  # unbounded: the batch is in memory anyway
        self._done: Future[list[int]] = Future()
        self._thread: threading.Thread | None = None
        self._uuid_ids = recorder.copy_types[0] == "uuid"  # else rows are formatted by psycopg, row by row

    def send(self, stored_events: Sequence[StoredEvent]) -> None:
        """Store these after those sent before (in the transaction, not yet committed)."""
        if not stored_events:
            return
        self._sent.extend(stored_events)
        if self._thread is None:  # the transaction (and the table lock) only once there is something to store
            self._thread = threading.Thread(target=self._run, name="copy-stream", daemon=True)
            self._thread.start()
        self._chunks.put((len(stored_events), binary_rows(stored_events) if self._uuid_ids else stored_events))

    def commit(self) -> list[int]:
        """Commit what was sent; the positions of its events, in the order sent.

        Raises what storing raised (a ``RecordConflictError`` for a clash with a concurrent write).
        """
        if self._thread is None:
            return []
        self._chunks.put(_COMMIT)
        try:
            return self._done.result()
        except (InterfaceError, OperationalError):
            # The connection broke: nothing was committed unless the commit itself was cut
            # short, which is the case insert_events' own retry meets too (a clash, then).
            return list(self.recorder.insert_events(self._sent) or [])

    def abandon(self) -> None:
        """Roll back what was sent (the batch was refused); returns once the transaction is over."""
        if self._thread is not None:
            self._chunks.put(_ABANDON)
            self._thread.join()

    def _run(self) -> None:
        try:
            positions = self._write()
        except _Abandoned:
            self._done.set_result([])
        except BaseException as e:  # noqa: BLE001  (handed to the caller, raised by commit)
            self._done.set_exception(e)
            self._drain()
        else:
            self._done.set_result(positions)

    def _write(self) -> list[int]:
        r = self.recorder
        count = 0
        with r.datastore.transaction(commit=True) as curs:
            r._lock_table(curs)  # noqa: SLF001  (the library's, as insert_events takes it)
            r._notify_channel(curs)  # noqa: SLF001
            head = curs.execute(r.head_under_lock).fetchone()["head"]
            while (item := self._chunks.get()) is not _COMMIT:
                if item is _ABANDON:
                    raise _Abandoned
                n, chunk = item
                with curs.copy(r.copy_in) as copy:
                    if isinstance(chunk, bytes):
                        copy.write(chunk)
                    else:
                        copy.set_types(r.copy_types)
                        for e in chunk:
                            copy.write_row((e.originator_id, e.originator_version, e.topic, e.state))
                count += n
            positions: list[int] = curs.execute(r.positions_after, (head,)).fetchone()["positions"]
            if len(positions) != count:  # only another writer ignoring the lock could cause this
                raise RuntimeError(f"COPY stored {count} events but {len(positions)} follow position {head}")
        return positions

    def _drain(self) -> None:
        """After a failure, take what the caller still sends until it commits or abandons."""
        while (item := self._chunks.get()) is not _COMMIT and item is not _ABANDON:
            pass
