"""Shapes shared by several resources."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from domain.party import SLUG_PATTERN

MAX_TEXT = 20_000
MAX_NAME = 300
MAX_NOTE = 5_000
MAX_FACT = 1_000  # a fact's text value; facts are scalars a report states, not prose

Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME)]
Note = Annotated[str, StringConstraints(max_length=MAX_NOTE)]
# BCP 47, loosely: a primary language subtag and optional subtags ("de", "en-GB", "sr-Latn").
Language = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$", max_length=35)]


def _stated_at(value: str) -> str:
    """A date (YYYY-MM-DD) or a date-time with a UTC offset, kept as given."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        date.fromisoformat(value)
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a date (2025-12-21) or a date-time with offset (2025-12-21T18:30:00+01:00)") from None
    if parsed.tzinfo is None:
        raise ValueError("a date-time needs a UTC offset, e.g. 2025-12-21T18:30:00+01:00 or …Z")
    return value


StatedAt = Annotated[str, AfterValidator(_stated_at)]


def _url(value: str) -> str:
    if not re.fullmatch(r"https?://[^\s/$.?#][^\s]*", value):
        raise ValueError("must be an absolute http(s) URL")
    return value


Url = Annotated[str, StringConstraints(max_length=2_000), AfterValidator(_url)]
Scalar = str | int | float | bool | None


NUL_REFUSED = "must not contain the NUL character (\\u0000): PostgreSQL text cannot hold it"


def has_nul(value: Any) -> bool:
    """True if a string in ``value`` (or in the lists and dicts it holds, keys too) has a NUL character."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, (list, tuple)):
        return any(has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    return False


class Strict(BaseModel):
    """Unknown fields are refused, not dropped: a typo must not lose data silently.

    Nor is a NUL character taken in any text: the event store keeps it (in JSON), but no
    view can (PostgreSQL text and jsonb refuse it), so one such event would stop the projections.
    """

    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if has_nul(value):
            raise ValueError(NUL_REFUSED)
        return value


class Source(Strict):
    """Where a claim was published; the url is its identity."""

    url: Url
    outlet: Name | None = None
    title: Annotated[str, StringConstraints(max_length=1_000)] | None = None
    published_at: datetime | None = None
    language: Language | None = None

    def to_domain(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def source_or_none(source: Source | None) -> dict[str, Any] | None:
    return None if source is None else source.to_domain()


def _fact_value(value: Scalar) -> Scalar:
    if isinstance(value, str) and len(value) > MAX_FACT:
        raise ValueError(f"a fact's text is at most {MAX_FACT:,} characters, not {len(value):,}")
    return value


FactValue = Annotated[Scalar, AfterValidator(_fact_value)]
Facts = Annotated[
    dict[Annotated[str, StringConstraints(min_length=1, max_length=100)], FactValue], Field(max_length=100)
]


class Problem(BaseModel):
    """An RFC 9457 problem: what went wrong, and for bad input, each field and why."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = Field(default=None, description="the request's path")
    errors: list[dict[str, Any]] | None = None
    request_id: str | None = None
