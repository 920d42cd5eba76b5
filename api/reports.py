"""Report formatting the routers and the command line share: position tables (CSV, Markdown) and event histories."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

from api.schemas.claims import EventOut
from projections import values

REPORT_COLUMNS = ("party", "topic", "stance", "position", "speaker", "stated_at", "claims", "claim")
# An event's fields that are not its data: they are shown as version, type, recorded_at.
_NOT_DATA = {"originator_id", "originator_version", "timestamp", "originator_topic", "meta"}


def report_cells(rows: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """Each position's report columns as text."""
    return [[str(row[c]) for c in REPORT_COLUMNS] for row in rows]


def csv_rows(rows: Sequence[Sequence[str]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


def csv_table(columns: Sequence[str], rows: list[list[str]]) -> str:
    return csv_rows([columns, *rows])


def markdown_header(columns: Sequence[str]) -> str:
    return "| " + " | ".join(columns) + " |\n" + "|" + "---|" * len(columns) + "\n"


def markdown_row(row: Sequence[str]) -> str:
    return "| " + " | ".join(v.replace("|", "\\|").replace("\n", " ") for v in row) + " |\n"


def markdown_table(columns: Sequence[str], rows: list[list[str]]) -> str:
    return markdown_header(columns) + "".join(markdown_row(row) for row in rows)


def event_out(event: Any) -> EventOut:
    """A stored event as a claim's history shows it."""
    meta = getattr(event, "meta", None) or {}
    data = {k: v for k, v in vars(event).items() if k not in _NOT_DATA}
    return EventOut(
        version=event.originator_version,
        type=type(event).__name__,
        recorded_at=event.timestamp,
        recorded_by=meta.get("recorded_by", "unknown"),
        correlation_id=meta.get("correlation_id", ""),
        data=values.loads(values.dumps_any(data)),  # plain JSON values; integers of any size exactly
    )
