"""Shapes shared by several resources."""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from domain.party import SLUG_PATTERN
from projections import values

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
    """A date (YYYY-MM-DD) or a date-time with a UTC offset, kept as given.

    Any offset ISO 8601 allows (to ±23:59) is taken; claims are ordered by the instant in UTC,
    which must lie within the years 1 to 9999 (values.utc_instant).
    """
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        date.fromisoformat(value)
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a date (2025-12-21) or a date-time with offset (2025-12-21T18:30:00+01:00)") from None
    if parsed.tzinfo is None:
        raise ValueError("a date-time needs a UTC offset, e.g. 2025-12-21T18:30:00+01:00 or …Z")
    values.utc_instant(value)  # NotStorable (a ValueError) outside the calendar in UTC
    return value


StatedAt = Annotated[str, AfterValidator(_stated_at)]


def _url(value: str) -> str:
    if not re.fullmatch(r"https?://[^\s/$.?#][^\s]*", value):
        raise ValueError("must be an absolute http(s) URL")
    return value


Url = Annotated[str, StringConstraints(max_length=2_000), AfterValidator(_url)]
# JSON numbers: finite (no NaN, no Infinity, nor 1e400, which reads as infinity)
Number = Annotated[float, Field(allow_inf_nan=False)]
Scalar = str | int | Number | bool | None


# Validation context key: True when the input's JSON text was checked to hold no NUL and no lone
# surrogate (values.may_hold_unstorable_text), so no field's text need be walked again.
TEXT_STORABLE = "text_storable"
NUL_REFUSED = "must not contain the NUL character (\\u0000): PostgreSQL text cannot hold it"


def text_problem(value: Any) -> str | None:
    """Why a string in ``value`` (or in the lists and dicts it holds, keys too) cannot be stored; None if all can."""
    if isinstance(value, str):
        return values.text_problem(value)
    if isinstance(value, (list, tuple)):
        return next((p for p in map(text_problem, value) if p), None)
    if isinstance(value, dict):
        return next((p for k, v in value.items() for p in (text_problem(k), text_problem(v)) if p), None)
    return None


def has_nul(value: Any) -> bool:
    """True if a string in ``value`` (or in the lists and dicts it holds, keys too) has a NUL character."""
    problem = text_problem(value)
    return problem is not None and "NUL" in problem


class Strict(BaseModel):
    """Unknown fields are refused, not dropped: a typo must not lose data silently.

    Nor is a NUL character or a lone surrogate taken in any text: no view can hold them
    (PostgreSQL text and jsonb refuse NUL, UTF-8 has no surrogates), so one such event would
    stop the projections (values.py).
    """

    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _storable_text(cls, value: Any, info: ValidationInfo) -> Any:
        if info.context is not None and info.context.get(TEXT_STORABLE):
            return value  # the caller found no such character anywhere in the JSON it came from
        problem = text_problem(value)
        if problem:
            raise ValueError(problem)
        return value


def _no_unix_time(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):  # as for as_of/at: never a Unix time
        raise ValueError("must be a date-time (2025-12-21T22:40:00+01:00) or a date, as text; a number is not read")
    return value


PublishedAt = Annotated[datetime, BeforeValidator(_no_unix_time)]


class Source(Strict):
    """Where a claim was published; the url is its identity."""

    url: Url
    outlet: Name | None = None
    title: Annotated[str, StringConstraints(max_length=1_000)] | None = None
    published_at: PublishedAt | None = None
    language: Language | None = None

    def to_domain(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def source_or_none(source: Source | None) -> dict[str, Any] | None:
    return None if source is None else source.to_domain()


_TOO_LARGE = 10**MAX_FACT


def _fact_value(value: Scalar) -> Scalar:
    if isinstance(value, str) and len(value) > MAX_FACT:
        raise ValueError(f"a fact's text is at most {MAX_FACT:,} characters, not {len(value):,}")
    # Integers are kept exactly, whatever their size (jsonb holds them as numeric), up to a bound
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _TOO_LARGE:
        raise ValueError(f"a fact's number has at most {MAX_FACT:,} digits")
    return value


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"a fact's number must be finite, not {value} (JSON has no NaN or Infinity)")
    return value


FactValue = Annotated[Scalar, BeforeValidator(_finite), AfterValidator(_fact_value)]
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
