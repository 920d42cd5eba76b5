"""Positions (bitemporal), their history, and the positions report."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from api import paging
from api.consistency import caught_up
from api.deps import Access, App, AppServices
from api.reports import REPORT_COLUMNS, csv_rows, markdown_header, markdown_row, report_cells
from api.schemas.when import Instant
from domain.errors import InvalidRequest

router = APIRouter(tags=["positions"], dependencies=[Access])

AsOf = Annotated[Instant | None, Query(description="system time: only what was recorded by then "
                                        "(a date alone: by the end of that day, UTC)")]
At = Annotated[Instant | None, Query(description="valid time: only statements made by then "
                                    "(a date alone: claims stated on that day count)")]


class Position(BaseModel):
    party: str
    topic: str
    stance: str
    position: str
    claim: str
    speaker: str
    stated_at: str
    claims: int
    updated_at: datetime


class PositionChange(BaseModel):
    party: str
    topic: str
    stance: str
    previous_stance: str | None
    shift: bool
    position: str
    claim: str
    speaker: str
    stated_at: str
    recorded_at: datetime


class Positions(BaseModel):
    items: list[Position]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for the next page; null on the last")


class PositionHistory(BaseModel):
    items: list[PositionChange]


Limit = Annotated[int, Query(ge=1, le=1000, description="at most this many positions")]
Cursor = Annotated[str | None, Query(max_length=1000, description="the next_cursor of the page before")]


def _positions(services: Any, party: str | None, topic: str | None, as_of: datetime | None,  # noqa: PLR0913
               at: datetime | None, after: tuple[str, str] | None = None, limit: int | None = None) -> list[Position]:
    rows = services.view("positions").positions(party=party, topic=topic, as_of=as_of, at=at, after=after, limit=limit)
    return [Position.model_validate({**row, "claim": str(row["claim"])}) for row in rows]


def _slug(app: Any, party: str | None) -> str | None:
    return app.resolve_party(party, field="party").slug if party else None


def _topic(app: Any, topic: str | None) -> str | None:
    """The topic asked for, which must exist (422 naming it, as an unknown party is), or None."""
    if topic is not None and not app.names.defined_topics([topic]):  # known topics are remembered: no query
        raise InvalidRequest(f"no topic has id {topic!r}", field="topic")
    return topic


@router.get("/v1/positions", response_model=Positions, dependencies=[caught_up("positions")])
def positions(  # noqa: PLR0913
    app: App, services: AppServices,
    party: Annotated[str | None, Query(description="id or alias")] = None,
    topic: str | None = None, as_of: AsOf = None, at: At = None,
    limit: Limit = 500, cursor: Cursor = None,
) -> Positions:
    """Each party's current position on each topic, in (party, topic) order, a page at a time (follow next_cursor).

    as_of and at look back in system and valid time.
    """
    after = tuple(paging.decode("positions", cursor, 2)) if cursor is not None else None
    items = _positions(services, _slug(app, party), _topic(app, topic), as_of, at, after, limit + 1)  # type: ignore[arg-type]
    more, items = len(items) > limit, items[:limit]
    next_cursor = paging.encode("positions", [items[-1].party, items[-1].topic]) if more else None
    return Positions(items=items, next_cursor=next_cursor)


@router.get("/v1/positions/history", response_model=PositionHistory, dependencies=[caught_up("positions")])
def position_history(
    app: App, services: AppServices,
    party: Annotated[str, Query(description="id or alias")],
    topic: str, as_of: AsOf = None, at: At = None,
) -> PositionHistory:
    """Every change of a party's position on a topic, in stated_at order; `shift` marks a change of stance."""
    slug = app.resolve_party(party, field="party").slug
    rows = services.view("positions").history(party=slug, topic=_topic(app, topic), as_of=as_of, at=at)
    return PositionHistory(items=[PositionChange.model_validate({**r, "claim": str(r["claim"])}) for r in rows])


REPORT_PAGE = 1_000  # positions read at a time while the report streams: memory stays that of one page


@router.get("/v1/reports/positions", dependencies=[caught_up("positions")], response_model=None,
            responses={200: {"content": {"application/json": {}, "text/csv": {}, "text/markdown": {}}}})
def positions_report(  # noqa: PLR0913
    app: App, services: AppServices,
    format: Literal["json", "csv", "markdown"] = "json",  # noqa: A002
    party: str | None = None, topic: str | None = None, as_of: AsOf = None, at: At = None,
) -> StreamingResponse:
    """The positions as a report: JSON (`{"items": [...]}`), CSV or a Markdown table, streamed a page at a time."""
    pages = _pages(services, _slug(app, party), _topic(app, topic), as_of, at)
    if format == "json":
        return StreamingResponse(_json(pages), media_type="application/json")
    if format == "csv":
        return StreamingResponse(_csv(pages), media_type="text/csv; charset=utf-8")
    return StreamingResponse(_markdown(pages), media_type="text/markdown; charset=utf-8")


def _pages(services: Any, party: str | None, topic: str | None,
           as_of: datetime | None, at: datetime | None) -> Iterator[list[Position]]:
    """The positions a page at a time; each page a short read of its own (no connection held between)."""
    after = None
    while True:
        page = _positions(services, party, topic, as_of, at, after, REPORT_PAGE)
        if page:
            yield page
        if len(page) < REPORT_PAGE:
            return
        after = (page[-1].party, page[-1].topic)


def _json(pages: Iterator[list[Position]]) -> Iterator[bytes]:
    yield b'{"items":['
    first = True
    for page in pages:
        for item in page:
            yield (b"" if first else b",") + item.model_dump_json().encode()
            first = False
    yield b"]}"


def _csv(pages: Iterator[list[Position]]) -> Iterator[str]:
    yield csv_rows([REPORT_COLUMNS])
    for page in pages:
        yield csv_rows(report_cells([item.model_dump() for item in page]))


def _markdown(pages: Iterator[list[Position]]) -> Iterator[str]:
    yield markdown_header(REPORT_COLUMNS)
    for page in pages:
        yield "".join(markdown_row(row) for row in report_cells([item.model_dump() for item in page]))
