"""Topics: read one, set title and description."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel

from api.consistency import caught_up
from api.deps import Access, App, AppServices, CurrentMeta
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


@router.get("", response_model=TopicList, dependencies=[caught_up("topics")])
def list_topics(services: AppServices) -> TopicList:
    return TopicList(items=[TopicOut.model_validate(doc) for doc in services.view("topics").list()])


@router.get("/{topic_id}/timeline", response_model=Timeline, dependencies=[caught_up("claims")])
def timeline(topic_id: Slug, app: App, services: AppServices) -> Timeline:
    """The topic's claims from all parties in stated_at order, each with its status."""
    app.get_topic(topic_id)
    return Timeline(topic=topic_id, items=[claim_from_view(doc) for doc in services.view("claims").timeline(topic_id)])


@router.get("/{topic_id}", response_model=TopicOut)
def get_topic(topic_id: Slug, app: App) -> TopicOut:
    return TopicOut.of(app.get_topic(topic_id))


@router.put("/{topic_id}", response_model=TopicOut)
def put_topic(topic_id: Slug, body: TopicIn, app: App, meta: CurrentMeta, response: Response) -> TopicOut:
    """Define the topic, or set its title and description."""
    saved = app.put_topic(topic_id, body.title, body.description, meta)
    written(response, saved.position, location=f"/v1/topics/{topic_id}")
    return TopicOut.of(saved.value)
