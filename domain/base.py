"""What every aggregate here shares: events stamped with who recorded them, when, and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

# Parties, topics and alias reservations are keyed by slugs; their aggregate ids are
# derived from the slug so that "the party called x" is one stream, found without an index.
_NAMESPACE = uuid5(NAMESPACE_URL, "https://claims.invalid/streams")


def stream_id(kind: str, key: str) -> UUID:
    """The aggregate id of the ``kind`` stream (party, topic, alias) named ``key``."""
    return uuid5(_NAMESPACE, f"{kind}:{key}")


@dataclass(frozen=True)
class Meta:
    """Who recorded an event, when (server clock, UTC), and in which request."""

    recorded_at: datetime
    recorded_by: str
    correlation_id: str

    def as_dict(self) -> dict[str, str]:
        """The event's ``meta`` field (the same recorded_at is also the event's timestamp)."""
        return {
            "recorded_at": self.recorded_at.isoformat().replace("+00:00", "Z"),
            "recorded_by": self.recorded_by,
            "correlation_id": self.correlation_id,
        }


class Recorded(Aggregate):
    """An aggregate whose every event carries ``meta`` and is timestamped by it.

    Command methods take ``meta: Meta``; the event stores it as its ``meta`` field
    and takes ``recorded_at`` as its timestamp,
    so the aggregate never reads the clock or the caller's identity itself.
    """

    @classmethod
    def _create(cls, event_class: Any, *, id: Any = None, **kwargs: Any) -> Any:  # noqa: A002
        return super()._create(event_class, id=id, **_stamped(kwargs))

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        super().trigger_event(event_class, **_stamped(kwargs))


def _stamped(kwargs: dict[str, Any]) -> dict[str, Any]:
    meta = kwargs.get("meta")
    if isinstance(meta, Meta):
        kwargs = {
            **kwargs,
            "timestamp": meta.recorded_at,
            "meta": meta.as_dict(),
        }
    return kwargs
