"""What every use case shares: the result of a write, and saving with conflicts answered."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent

# The library's exception for a save that lost a race on a stream's version; the use cases
# answer it (retry, StaleVersion, Conflict), so it is the one persistence name they import.
from eventsourcing.persistence import RecordConflictError

from domain.base import Recorded
from domain.directory import PartyDirectory
from domain.errors import Conflict

T = TypeVar("T")
# How often a command without If-Match is retried when a concurrent write got in first.
_RETRIES = 12


@dataclass(frozen=True)
class Saved(Generic[T]):
    """What a write produced, and the global log position of its last event (None: nothing new)."""

    value: T
    position: int | None


class UseCases(Application[UUID]):
    """The application's plumbing: find an aggregate by key, save, retry a read-decide-write."""

    names: PartyDirectory  # where names become party ids (made by ClaimsApplication)

    def _find(self, cls: type[T], key: str) -> T | None:
        try:
            found = self.repository.get(cls.create_id(key))  # type: ignore[attr-defined]
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, cls) else None

    def _save(self, *aggregates: Any) -> int | None:
        """Save aggregates (or events already collected from them); the position of the last event."""
        recordings = self.save(*aggregates)
        return max((r.notification.id for r in recordings), default=None)

    def _save_many(self, *aggregates: Recorded) -> int | None:
        """Save many aggregates at once (a batch): as ``save``, which first asks of each object
        whether it is an event or an aggregate with runtime-checkable protocols, ~25 µs per
        object (a tenth of a batch's time); these are known to be aggregates."""
        processing: ProcessingEvent[UUID] = ProcessingEvent()
        for aggregate in aggregates:
            processing.events.extend(aggregate.collect_events())
            processing.aggregates[aggregate.id] = aggregate
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)
        self.notify(processing.events)  # (deprecated in the library; called as its save does)
        return max((r.notification.id for r in recordings), default=None)

    def _save_checked(self, check: Callable[[], None], *aggregates: Any, many: bool = False) -> int | None:
        """Save (``many``: aggregates only, with ``_save_many``); when a concurrent write got in first,
        run ``check`` to say what clashed."""
        try:
            return self._save_many(*aggregates) if many else self._save(*aggregates)
        except RecordConflictError:
            check()
            raise Conflict("a concurrent write changed what this request depends on; try again") from None

    def _retrying(self, attempt: Callable[[], T]) -> T:
        """Run a read-decide-write attempt again when a concurrent write to its stream got in first."""
        for tries in range(1, _RETRIES + 1):
            try:
                return attempt()
            except RecordConflictError:
                time.sleep(random.uniform(0, 0.005 * tries))  # noqa: S311  (jitter, not crypto)
        raise Conflict("too many concurrent writes to the same stream; try again")

