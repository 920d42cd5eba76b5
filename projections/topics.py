"""The topics read model: every topic's title and description."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from psycopg import Cursor
from psycopg.types.json import Jsonb

from domain.topic import Topic
from projections.view import BatchProjection, View, topics_of


class TopicsView(View):
    name = "topics"
    tables = {
        "topic": ["CREATE TABLE IF NOT EXISTS {t} (id text PRIMARY KEY, stream uuid NOT NULL UNIQUE, doc jsonb NOT NULL)"]
    }

    def list(self) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as curs:
            return [row["doc"] for row in curs.execute(self.q("SELECT doc FROM {topic} ORDER BY id")).fetchall()]


class TopicsProjection(BatchProjection[TopicsView]):
    name = "topics"
    topics = topics_of(Topic.TopicDefined, Topic.TopicUpdated)

    def apply_batch(self, curs: Cursor[Any], events: Sequence[tuple[int, Any]]) -> None:
        for _, event in events:
            self.apply(event, curs)

    @singledispatchmethod
    def apply(self, event: Any, curs: Cursor[Any]) -> None:
        """Events of other streams: nothing to do."""

    @apply.register(Topic.TopicDefined)
    def _(self, event: Any, curs: Cursor[Any]) -> None:
        at = event.meta["recorded_at"]
        doc = {"id": event.slug, "title": event.title, "description": event.description,
               "version": event.originator_version, "recorded_at": at, "updated_at": at}
        curs.execute(self.view.q("INSERT INTO {topic} (id, stream, doc) VALUES (%s, %s, %s)"),
                     (event.slug, event.originator_id, Jsonb(doc)))

    @apply.register(Topic.TopicUpdated)
    def _(self, event: Any, curs: Cursor[Any]) -> None:
        changes = {"title": event.title, "description": event.description,
                   "version": event.originator_version, "updated_at": event.meta["recorded_at"]}
        curs.execute(self.view.q("UPDATE {topic} SET doc = doc || %s WHERE stream = %s"),
                     (Jsonb(changes), event.originator_id))
