"""A trial run: the application's every rule against the real store, with nothing stored.

`claims load` tries a whole input this way first, so that one bad record records nothing
(rather than what came before it). The trial application reads the real store, and what it
saves goes to memory, on top: later records see the earlier ones, as in the real run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, IntegrityError, Mapper, Notification, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder

from adapters.memory import MemoryRecorder
from domain.application import ClaimsApplication
from domain.ports import StreamStore


class OverlayRecorder(MemoryRecorder):
    """Reads ``base`` and what was written here; writes only here (in memory)."""

    def __init__(self, base: StreamStore) -> None:
        super().__init__()
        self.base = base

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        taken = {(e.originator_id, e.originator_version) for e in self._base_streams([e.originator_id for e in stored_events])}
        clash = [e for e in stored_events if (e.originator_id, e.originator_version) in taken]
        if clash:
            raise IntegrityError(f"stream {clash[0].originator_id} has version {clash[0].originator_version} already")
        return super().insert_events(stored_events, **kwargs)

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        base = list(self.base.select_events(originator_id, gt=gt, lte=lte))
        events = base + list(super().select_events(originator_id, gt=gt, lte=lte))  # ours follow the store's
        if desc:
            events.reverse()
        return events if limit is None else events[:limit]

    def select_streams(self, originator_ids: Sequence[Any]) -> list[StoredEvent]:
        # Ours by the library's own read (select_events here would add the base's again).
        ours = [e for i in dict.fromkeys(originator_ids) for e in POPOApplicationRecorder.select_events(self, i)]
        return self._base_streams(originator_ids) + ours

    def _base_streams(self, originator_ids: Sequence[Any]) -> list[StoredEvent]:
        return list(self.base.select_streams(list(dict.fromkeys(originator_ids))))

    def select_notifications(self, *args: Any, **kwargs: Any) -> Sequence[Notification]:
        return self.base.select_notifications(*args, **kwargs)  # the store's log (our merges are known anyway)

    def max_notification_id(self) -> int | None:
        return self.base.max_notification_id()


class TrialApplication(ClaimsApplication):
    """``real``'s use cases on an ``OverlayRecorder``: every check runs, nothing is stored."""

    def __init__(self, real: ClaimsApplication) -> None:
        self._real = real
        super().__init__({"PERSISTENCE_MODULE": "adapters.memory"})

    def construct_mapper(self) -> Mapper[UUID]:
        return self._real.mapper

    def construct_recorder(self) -> ApplicationRecorder:
        return OverlayRecorder(self._real.recorder)
