"""Topics: read one, set title and description."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from api import paging

from api.consistency import caught_up
from api.deps import Access, App, AppServices, CurrentMeta
from api.errors import ProblemException
from api.routers import written
from api.routers.claims import claim_from_view
from api.schemas.claims import ClaimOut
from api.schemas.common import Slug
from api.schemas.parties import TopicIn, TopicOut

router = APIRouter(prefix="/v1/topics", tags=["topics"], dependencies=[Access])


class TopicList(BaseModel):
    items: list[TopicOut]


class Timeline(BaseModel):
    topic: str
    items: list[ClaimOut]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for the next page; null on the last")


@router.get("", response_model=TopicList, dependencies=[caught_up("topics")])
def list_topics(services: AppServices) -> TopicList:
    return TopicList(items=[TopicOut.model_validate(doc) for doc in services.view("topics").list()])


@router.get("/{topic_id}/timeline", response_model=Timeline, dependencies=[caught_up("claims")])
def timeline(
    topic_id: Slug, app: App, services: AppServices,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> Timeline:
    """The topic's claims from all parties in stated_at order, each with its status; follow next_cursor."""
    after = None
    if cursor is not None:
        key, seq = paging.decode("timeline", cursor, 2)
        try:
            after = (datetime.fromisoformat(key), int(seq))
        except (TypeError, ValueError):
            raise ProblemException(422, "cursor: not a cursor this list gave out", kind="validation",
                                   errors=[{"field": "cursor", "reason": "not a cursor this list gave out"}]) from None
    app.get_topic(topic_id)
    rows = services.view("claims").timeline_page(topic_id, after=after, limit=limit + 1)
    more, rows = len(rows) > limit, rows[:limit]
    next_cursor = paging.encode("timeline", [rows[-1][1][0].isoformat(), rows[-1][1][1]]) if more else None
    return Timeline(topic=topic_id, items=[claim_from_view(doc) for doc, _ in rows], next_cursor=next_cursor)


@router.get("/{topic_id}", response_model=TopicOut)
def get_topic(topic_id: Slug, app: App) -> TopicOut:
    return TopicOut.of(app.get_topic(topic_id))


@router.put("/{topic_id}", response_model=TopicOut)
def put_topic(topic_id: Slug, body: TopicIn, app: App, meta: CurrentMeta, response: Response) -> TopicOut:
    """Define the topic, or set its title and description."""
    saved = app.put_topic(topic_id, body.title, body.description, meta)
    written(response, saved.position, location=f"/v1/topics/{topic_id}")
    return TopicOut.of(saved.value)
