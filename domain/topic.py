"""Topics: what positions are about."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import event

from domain.base import Meta, Recorded, stream_id


class Topic(Recorded):
    """A topic's title and description; a claim on an unknown slug defines it."""

    @staticmethod
    def create_id(slug: str) -> UUID:
        return stream_id("topic", slug)

    @event("TopicDefined")
    def __init__(self, slug: str, title: str, description: str | None, meta: dict[str, str]) -> None:
        self.slug = slug
        self.title = title
        self.description = description

    def update(self, title: str, description: str | None, meta: Meta) -> bool:
        """Set title and description; answers whether anything changed."""
        if (title, description) == (self.title, self.description):
            return False
        self._update(title=title, description=description, meta=meta)
        return True

    @event("TopicUpdated")
    def _update(self, title: str, description: str | None, meta: dict[str, str]) -> None:
        self.title = title
        self.description = description
