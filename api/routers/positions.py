"""Positions (bitemporal), their history, and the positions report."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel

from api.consistency import caught_up
from api.deps import Access, App, AppServices
from api.schemas.when import Instant

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


class PositionHistory(BaseModel):
    items: list[PositionChange]


def _positions(services: Any, app: Any, party: str | None, topic: str | None,
               as_of: datetime | None, at: datetime | None) -> list[Position]:
    slug = app.resolve_party(party, field="party").slug if party else None
    rows = services.view("positions").positions(party=slug, topic=topic, as_of=as_of, at=at)
    return [Position.model_validate({**row, "claim": str(row["claim"])}) for row in rows]


@router.get("/v1/positions", response_model=Positions, dependencies=[caught_up("positions")])
def positions(
    app: App, services: AppServices,
    party: Annotated[str | None, Query(description="id or alias")] = None,
    topic: str | None = None, as_of: AsOf = None, at: At = None,
) -> Positions:
    """Each party's current position on each topic; as_of and at look back in system and valid time."""
    return Positions(items=_positions(services, app, party, topic, as_of, at))


@router.get("/v1/positions/history", response_model=PositionHistory, dependencies=[caught_up("positions")])
def position_history(
    app: App, services: AppServices,
    party: Annotated[str, Query(description="id or alias")],
    topic: str, as_of: AsOf = None, at: At = None,
) -> PositionHistory:
    """Every change of a party's position on a topic, in stated_at order; `shift` marks a change of stance."""
    slug = app.resolve_party(party, field="party").slug
    rows = services.view("positions").history(party=slug, topic=topic, as_of=as_of, at=at)
    return PositionHistory(items=[PositionChange.model_validate({**r, "claim": str(r["claim"])}) for r in rows])


REPORT_COLUMNS = ("party", "topic", "stance", "position", "speaker", "stated_at", "claims", "claim")


@router.get("/v1/reports/positions", dependencies=[caught_up("positions")], response_model=None)
def positions_report(
    app: App, services: AppServices,
    format: Literal["json", "csv", "markdown"] = "json",  # noqa: A002
    party: str | None = None, topic: str | None = None, as_of: AsOf = None, at: At = None,
) -> Response | Positions:
    """The positions as a report: JSON, CSV or a Markdown table."""
    items = _positions(services, app, party, topic, as_of, at)
    if format == "json":
        return Positions(items=items)
    rows = [[str(getattr(item, c)) for c in REPORT_COLUMNS] for item in items]
    if format == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(REPORT_COLUMNS)
        writer.writerows(rows)
        return PlainTextResponse(out.getvalue(), media_type="text/csv; charset=utf-8")
    return PlainTextResponse(markdown_table(REPORT_COLUMNS, rows), media_type="text/markdown; charset=utf-8")


def markdown_table(columns: tuple[str, ...], rows: list[list[str]]) -> str:
    def cell(value: str) -> str:
        return value.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
