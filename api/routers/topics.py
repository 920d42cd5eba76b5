"""Topics: read one, set title and description."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import App, CurrentMeta
from api.routers import written
from api.schemas.common import Slug
from api.schemas.parties import TopicIn, TopicOut

router = APIRouter(prefix="/v1/topics", tags=["topics"])


@router.get("/{topic_id}", response_model=TopicOut)
def get_topic(topic_id: Slug, app: App) -> TopicOut:
    return TopicOut.of(app.get_topic(topic_id))


@router.put("/{topic_id}", response_model=TopicOut)
def put_topic(topic_id: Slug, body: TopicIn, app: App, meta: CurrentMeta, response: Response) -> TopicOut:
    """Define the topic, or set its title and description."""
    saved = app.put_topic(topic_id, body.title, body.description, meta)
    written(response, saved.position, location=f"/v1/topics/{topic_id}")
    return TopicOut.of(saved.value)
