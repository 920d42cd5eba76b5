"""The change feed: the global log from a position as CloudEvents 1.0, as NDJSON, a JSON batch, or Server-Sent Events.

``follow=true`` keeps the answer open: new events are sent as soon as the store's NOTIFY says
they are committed, heartbeats while nothing happens. Each open feed has a database connection
of its own (never one of the request pool's), reads a batch at a time with no transaction left
open, and waits on the socket for its consumer: a slow consumer slows only itself. Open feeds
per API key are bounded (``Settings.feed_streams_per_key``); they end on shutdown, and a consumer
resumes from the last ``id`` it saw (``after=``, or SSE's ``Last-Event-ID``).

SSE is FastAPI's own ``EventSourceResponse`` (a StreamingResponse with the media type) with frames
written here: one route answers three formats by the Accept header, so FastAPI's ``yield``-based
SSE routes (one format per route) and sse-starlette (a dependency for what is ten lines) do not fit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import orjson
import psycopg
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from fastapi.sse import EventSourceResponse

from adapters.feed import EVENT_TYPES, STREAM_KINDS, LogFeed, Streams, topics_for, type_and_kind
from api.deps import Access
from api.errors import ProblemException

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/events", tags=["events"], dependencies=[Access])

NDJSON = "application/x-ndjson"
BATCH = "application/cloudevents-batch+json"
SSE = "text/event-stream"
READ_BATCH = 500  # events read (and held) at a time
_NOT_DATA = {"originator_id", "originator_version", "timestamp", "originator_topic", "meta"}


def streams_of_app(app: Any) -> Streams:
    """The app's open-feed counter (made on first use, with the settings' bound)."""
    state = app.state
    if getattr(state, "feed_streams", None) is None:
        services = getattr(state, "services", None)
        state.feed_streams = Streams(services.settings.feed_streams_per_key if services else 4)
    return state.feed_streams


@contextmanager
def feeds_end_on_exit(app: Any) -> Iterator[None]:
    """While uvicorn serves ``app``: its shutdown signal first ends the open feeds (within half a second).

    uvicorn's graceful shutdown waits for every answer to finish, and a followed feed never
    would; nothing in ASGI tells an answer that shutdown has begun. So, for as long as this
    lasts, uvicorn's signal handler is wrapped to tell the feeds first (uvicorn.run builds its
    Server itself, so the class's handler is the one place to hook).
    """
    import uvicorn

    original = uvicorn.Server.handle_exit

    def handle_exit(server: Any, sig: int, frame: Any) -> None:
        streams_of_app(app).closing.set()
        original(server, sig, frame)

    uvicorn.Server.handle_exit = handle_exit  # type: ignore[method-assign]
    try:
        yield
    finally:
        uvicorn.Server.handle_exit = original  # type: ignore[method-assign]


def cloud_event(source: str, position: int, app: Any, stored: Any) -> dict[str, Any]:
    """One stored event as a CloudEvents 1.0 JSON object (extensions: streamkind, streamversion, recordedby, correlationid)."""
    event = app.mapper.to_domain_event(stored)
    name, kind = type_and_kind(stored.topic)
    meta = getattr(event, "meta", None) or {}
    data = {k: v for k, v in vars(event).items() if k not in _NOT_DATA}
    return {
        "specversion": "1.0",
        "id": str(position),
        "source": source,
        "type": name,
        "time": meta.get("recorded_at") or event.timestamp.isoformat(),
        "subject": str(stored.originator_id),
        "datacontenttype": "application/json",
        "streamkind": kind,
        "streamversion": stored.originator_version,
        "recordedby": meta.get("recorded_by"),
        "correlationid": meta.get("correlation_id"),
        "data": data,
    }


def _format(accept: str | None) -> str:
    kinds = [part.split(";")[0].strip().lower() for part in (accept or "").split(",")]
    for kind in kinds:
        if kind in (SSE, NDJSON, BATCH):
            return kind
    return NDJSON


def _invalid(field: str, reason: str) -> ProblemException:
    return ProblemException(422, f"{field}: {reason}", kind="validation", errors=[{"field": field, "reason": reason}])


@router.get("", response_class=StreamingResponse, responses={
    200: {"description": "CloudEvents 1.0, one per event",
          "content": {NDJSON: {}, BATCH: {}, SSE: {}}},
    429: {"description": "this key has as many feeds open as it may"},
})
async def events(  # noqa: PLR0913
    request: Request,
    after: Annotated[int, Query(ge=0, description="the position after which to start (0: the first event)")] = 0,
    type: Annotated[list[str] | None, Query(description="only events of these types (repeatable)")] = None,  # noqa: A002
    stream: Annotated[list[str] | None, Query(description="only events of these stream kinds: claim, party, topic, alias")] = None,
    follow: Annotated[bool, Query(description="stay open and send new events as they are committed")] = False,
    limit: Annotated[int | None, Query(ge=1, description="at most this many events (then the answer ends)")] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """The global log after position `after` as CloudEvents: NDJSON (default), a JSON batch, or SSE (by Accept)."""
    for name in type or []:
        if name not in EVENT_TYPES:
            raise _invalid("type", f"no event type {name!r}; known: {', '.join(sorted(EVENT_TYPES))}")
    for kind in stream or []:
        if kind not in STREAM_KINDS:
            raise _invalid("stream", f"no stream kind {kind!r}; known: {', '.join(STREAM_KINDS)}")
    if last_event_id is not None:
        if not last_event_id.strip().isdigit():
            raise _invalid("Last-Event-ID", "must be a log position (the id of the last event received)")
        after = int(last_event_id)
    media = _format(request.headers.get("accept"))
    if follow and media == BATCH:
        raise _invalid("follow", f"a {BATCH} answer is one JSON array, which cannot stay open; ask for {NDJSON} or {SSE}")
    services = request.app.state.services
    streams = streams_of_app(request.app)
    key = getattr(request.state, "principal", None) or "local"
    if not streams.take(key):
        raise ProblemException(429, f"this key has {streams.limit} feeds open already, the most it may; close one first",
                               kind="too-many-streams", headers={"Retry-After": "5"})
    body = _feed(request, services, streams, key, after=after, topics=topics_for(type, stream), follow=follow,
                 limit=limit, media=media)
    response_class = EventSourceResponse if media == SSE else StreamingResponse
    return response_class(body, media_type=media, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _feed(  # noqa: PLR0913
    request: Request, services: Any, streams: Streams, key: str, *,
    after: int, topics: list[str] | None, follow: bool, limit: int | None, media: str,
) -> AsyncIterator[bytes]:
    """The answer's body, chunk by chunk; gives its stream back to ``streams`` however it ends."""
    app, heartbeat = services.app, services.settings.feed_heartbeat_seconds
    source = f"{str(request.base_url).rstrip('/')}/v1/events"
    feed = LogFeed(app.recorder)
    sent, position = 0, after
    try:
        async with feed.connection(listen=follow) as conn:
            stop_at = None if follow else await feed.head(conn)
            if media == SSE:
                yield b"retry: 1000\n\n"
            elif media == BATCH:
                yield b"["
            quiet_since = time.monotonic()
            while not streams.closing.is_set():
                want = READ_BATCH if limit is None else min(READ_BATCH, limit - sent)
                rows = await feed.batch(conn, position, topics, want)
                if stop_at is not None:
                    rows = [(p, e) for p, e in rows if p <= stop_at]
                for seq, stored in rows:
                    yield _frame(media, seq, cloud_event(source, seq, app, stored), first=sent == 0)
                    sent, position = sent + 1, seq
                if rows:
                    quiet_since = time.monotonic()
                if (limit is not None and sent >= limit) or (not follow and len(rows) < want):
                    break
                if rows:
                    continue
                # Caught up: wait for a commit, a while at most, so that shutdown is seen within half a second.
                if not await feed.wait(conn, 0.5) and time.monotonic() - quiet_since >= heartbeat:
                    yield b": heartbeat\n\n" if media == SSE else b"\n"
                    quiet_since = time.monotonic()
            if media == BATCH:
                yield b"]"
    except psycopg.OperationalError:  # the database went away: the answer ends, the consumer resumes from its last id
        log.warning("event feed ended: the database connection failed", exc_info=True)
    finally:
        streams.give_back(key)


def _frame(media: str, position: int, event: dict[str, Any], *, first: bool) -> bytes:
    data = orjson.dumps(event, default=str)
    if media == SSE:
        return b"id: %d\ndata: %s\n\n" % (position, data)
    if media == BATCH:
        return data if first else b"," + data
    return data + b"\n"
