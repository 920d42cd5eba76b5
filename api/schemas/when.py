"""The one reading of a point in time a client gives for `as_of` and `at` (API and command line).

A date-time needs a UTC offset (``2025-12-22T18:30:00+01:00``, ``…Z``). A date alone
(``2025-12-22``) means the end of that day in UTC: for ``at``, claims stated on that day
count; for ``as_of``, what had been recorded by the end of that day. A number is never read
as a Unix time (``-1`` is refused like any other text that is not a date).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}.*")
END_OF_DAY = time(23, 59, 59, 999_999, tzinfo=UTC)
HINT = "a date (2025-12-22: the end of that day, UTC) or a date-time with offset (2025-12-22T18:30:00+01:00)"


def parse_instant(value: str) -> datetime:
    """A date (the end of that day, UTC) or a date-time with offset; ValueError naming the accepted forms."""
    text = value.strip()
    if _DATE.fullmatch(text):
        try:
            return datetime.combine(date.fromisoformat(text), END_OF_DAY)
        except ValueError:
            raise ValueError(f"{text!r} is no calendar date: must be {HINT}") from None
    if not _DATE_TIME.fullmatch(text):
        raise ValueError(f"must be {HINT}")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"must be {HINT}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"a date-time needs a UTC offset (…Z or +01:00), or give a date alone: {HINT}")
    return parsed


def _instant(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):  # never a number read as a Unix time
        raise ValueError(f"must be {HINT}")
    return parse_instant(value)


Instant = Annotated[AwareDatetime, BeforeValidator(_instant)]
