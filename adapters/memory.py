"""The in-memory event store (the library's POPO recorder), with what the application reads of it.

``PERSISTENCE_MODULE=adapters.memory`` selects it: the unit tests' store. It answers
``select_streams`` as the PostgreSQL recorder does, so the name directory runs one path on both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing import popo
from eventsourcing.persistence import ApplicationRecorder, StoredEvent


class MemoryRecorder(popo.POPOApplicationRecorder):
    """The library's in-memory application recorder, plus ``select_streams``."""

    def select_streams(self, originator_ids: Sequence[Any]) -> list[StoredEvent]:
        """Every event of these streams, stream after stream, each in version order."""
        with self._database_lock:
            return [event for originator_id in originator_ids for event in self.select_events(originator_id)]


class Factory(popo.POPOFactory):
    """The library's in-memory persistence, with ``MemoryRecorder`` as the application recorder."""

    def application_recorder(self) -> ApplicationRecorder:
        return MemoryRecorder()
