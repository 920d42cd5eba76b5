"""Saving a batch's new aggregates while the rest of the batch is still being checked.

A batch of 10,000 claims used to be checked whole, then encoded whole, then stored: PostgreSQL
worked (COPY, the hash chain's trigger, the commit) while Python waited. ``BatchSave`` encodes
each claim's events as soon as it is checked and hands them, a chunk at a time, to the
recorder's ``stream`` (``adapters/copy_stream.py`` COPYs each chunk from a thread of its own),
so the server's work overlaps the checking of the next chunk. Still one transaction: a batch
refused after chunks went in is rolled back (``abandon``), nothing of it stored.

After the commit it does what the library's ``Application.save`` does after storing (the
aggregate cache, snapshots, ``_notify``, ``notify``), as ``UseCases._save_many`` did.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.application import ProcessingEvent
from eventsourcing.persistence import Notification, Recording, StoredEvent

from domain.ports import EventStream, StreamingRecorder

if TYPE_CHECKING:
    from domain.base import Recorded
    from domain.use_cases import UseCases

CHUNK = 1_000  # events per COPY statement: ten a full batch; each waits for the server in its own thread


class BatchSave:
    """A batch's aggregates, encoded as they come (``add``) and stored in one transaction (``commit``)."""

    def __init__(self, app: UseCases) -> None:
        self._app = app
        recorder = app.recorder
        self._stream: EventStream | None = recorder.stream() if isinstance(recorder, StreamingRecorder) else None
        self._processing: ProcessingEvent[UUID] = ProcessingEvent()
        self._stored: list[StoredEvent] = []
        self._unsent = 0

    def add(self, aggregates: list[Recorded]) -> None:
        """Take these aggregates' new events, encoded; raises what encoding raises (and takes nothing)."""
        events = [event for aggregate in aggregates for event in aggregate.collect_events()]
        stored = [self._app.mapper.to_stored_event(event) for event in events]
        self._processing.events.extend(events)
        for aggregate in aggregates:
            self._processing.aggregates[aggregate.id] = aggregate
        self._stored.extend(stored)
        self._unsent += len(stored)
        if self._stream is not None and self._unsent >= CHUNK:
            self._stream.send(self._stored[-self._unsent:])
            self._unsent = 0

    def commit(self) -> int | None:
        """Store what was added, in one transaction; the position of its last event (None: nothing new)."""
        if not self._stored:
            self.abandon()
            return None
        if self._stream is None:
            positions = list(self._app.recorder.insert_events(self._stored) or [])
        else:
            if self._unsent:
                self._stream.send(self._stored[-self._unsent:])
            positions = list(self._stream.commit())
        return self._after_save(positions)

    def abandon(self) -> None:
        """Store nothing (the batch was refused): what was sent is rolled back."""
        if self._stream is not None:
            self._stream.abandon()

    def _after_save(self, positions: list[int]) -> int | None:
        app, processing = self._app, self._processing
        recordings: list[Recording[Any]] = [
            Recording(event, Notification(id=position, originator_id=s.originator_id,
                                          originator_version=s.originator_version, topic=s.topic, state=s.state))
            for event, s, position in zip(processing.events, self._stored, positions, strict=True)
        ]
        if app.repository.cache and not app.repository.fastforward:  # as the library's Application._record
            for aggregate_id, aggregate in processing.aggregates.items():
                app.repository.cache.put(aggregate_id, aggregate)
        app._take_snapshots(processing)  # noqa: SLF001  (the library's steps after a save, in its order)
        app._notify(recordings)  # noqa: SLF001
        app.notify(processing.events)  # (deprecated in the library; called as its save does)
        return max(positions, default=None)
