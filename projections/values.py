"""What a view can store, in one place: the API validates to it, the projections normalise to it.

A value the log holds but PostgreSQL cannot (a NUL in text, NaN in JSON, an instant outside
the calendar) would stop a projection for ever, since the log is immutable. The API refuses
such values (``utc_instant``, ``text_problem``, finite floats); an event stored before it did
is applied with the value made storable (``normalised``), and the projection says so.
Values PostgreSQL can hold exactly are kept exactly: an offset beyond PostgreSQL's ±15:59 is
ordered by its instant in UTC, and an integer beyond 64 bits stays the same number in jsonb.
"""

from __future__ import annotations

import copy
import json
import math
import re
from datetime import UTC, date, datetime, time
from typing import Any

import orjson

MIN_INSTANT = datetime.min.replace(tzinfo=UTC)
MAX_INSTANT = datetime.max.replace(tzinfo=UTC)
REPLACEMENT = "\ufffd"  # what stands for a character PostgreSQL text cannot hold
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL, and lone surrogates (no UTF-8 for them)
# orjson reads integers beyond 64 bits as floats, silently: a run of 19 digits sends a document to json.
# Found by mapping every digit to "0" and all else to " " (C speed: 0.4 us for a claim's 500 bytes,
# where the regex \d{19} took 4 us, most of what parsing a batch's line cost).
_DIGITS_ONLY = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
_LONG_RUN = b"0" * 19


class NotStorable(ValueError):
    """A value no view can hold as written."""


def utc_instant(stated_at: str) -> datetime:
    """The instant a date (00:00 UTC) or a date-time with any offset stands for, in UTC.

    NotStorable if that instant falls outside the years 1 to 9999 in UTC (an offset can push
    0001-01-01T00:00+05:00 before the calendar begins).
    """
    if len(stated_at) == 10:
        return datetime.combine(date.fromisoformat(stated_at), time.min, UTC)
    parsed = datetime.fromisoformat(stated_at)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise NotStorable(f"{stated_at} falls outside the years 1 to 9999 in UTC") from None


def text_problem(value: str) -> str | None:
    """Why PostgreSQL text cannot hold ``value`` (None: it can)."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "must not contain the NUL character (\\u0000): PostgreSQL text cannot hold it"
    return f"must not contain a lone surrogate (\\u{ord(found.group()):04x}): it is no Unicode character"


# What in JSON text can make a string PostgreSQL cannot hold: an escape of NUL or of a surrogate, or
# the UTF-8 bytes of a surrogate (the exact parser, json, lets them through: it decodes with surrogatepass).
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_SURROGATE_BYTES = re.compile(b"\xed[\xa0-\xbf]")


def may_hold_unstorable_text(raw: bytes) -> bool:
    """False when no string ``loads(raw)`` can give holds a NUL or a lone surrogate (True: it may).

    Raw control characters and bytes that are not UTF-8 are refused by the parsers, so only an
    escape (``\\u0000``, ``\\ud800``) or surrogate bytes can make one. Each check looks for a
    literal first (C speed over a 10 MB batch) and runs its regex only where that is there.
    """
    if b"\\u" in raw and _UNSTORABLE_ESCAPE.search(raw):
        return True
    return b"\xed" in raw and _SURROGATE_BYTES.search(raw) is not None


def normalised(value: Any, path: str = "") -> tuple[Any, list[str]]:
    """``value`` made storable, with a note per change: text cleaned (U+FFFD), NaN and infinities as null.

    Walks strings, lists, tuples and dicts (keys too); other values are kept as they are.
    """
    notes: list[str] = []
    return _normalised(value, path, notes), notes


def _normalised(value: Any, path: str, notes: list[str]) -> Any:
    if isinstance(value, str):
        if _UNSTORABLE.search(value) is None:
            return value
        notes.append(f"{path or 'text'}: {text_problem(value)}; stored with U+FFFD in its place")
        return _UNSTORABLE.sub(REPLACEMENT, value)
    if isinstance(value, float) and not math.isfinite(value):
        notes.append(f"{path or 'number'}: {value} is no JSON number; stored as null")
        return None
    if isinstance(value, dict):
        return {_normalised(k, f"{path}[key]", notes): _normalised(v, _clean(f"{path}.{k}" if path else str(k)), notes)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_normalised(v, f"{path}[{n}]", notes) for n, v in enumerate(value))
    return value


def _clean(path: str) -> str:
    """A note's path, itself storable (a key may hold what it reports)."""
    return _UNSTORABLE.sub(REPLACEMENT, path)


def all_finite(values: dict[str, Any]) -> bool:
    """True unless a float among ``values`` is NaN or infinite (JSON has no such numbers; jsonb neither)."""
    return all(math.isfinite(v) for v in values.values() if isinstance(v, float))


_EVENT_FIELDS_SKIPPED = {"originator_id", "originator_version", "timestamp", "originator_topic"}


def normalised_event(event: Any) -> tuple[Any, list[str]]:
    """A copy of a domain event with every field made storable, and the notes saying what changed.

    A ``stated_at`` (also among a correction's changes) whose instant lies outside the calendar
    in UTC is replaced by the calendar's first or last instant.
    """
    notes: list[str] = []
    fields: dict[str, Any] = {}
    for name, value in vars(event).items():
        if name in _EVENT_FIELDS_SKIPPED:
            continue
        fixed = _normalised(value, name, notes)
        if name == "stated_at" and isinstance(fixed, str):
            fixed = _in_calendar(fixed, name, notes)
        elif name == "changes" and isinstance(fixed, dict) and isinstance(fixed.get("stated_at"), str):
            fixed = {**fixed, "stated_at": _in_calendar(fixed["stated_at"], "changes.stated_at", notes)}
        if fixed is not value:
            fields[name] = fixed
    if not notes:
        return event, []
    fresh = copy.copy(event)
    fresh.__dict__.update(fields)  # events are frozen dataclasses: no setattr, but their __dict__ is theirs
    return fresh, notes


def _in_calendar(stated_at: str, path: str, notes: list[str]) -> str:
    try:
        utc_instant(stated_at)
    except NotStorable as e:
        edge = MIN_INSTANT if datetime.fromisoformat(stated_at).year < 5000 else MAX_INSTANT
        fixed = edge.isoformat().replace("+00:00", "Z")
        notes.append(f"{path}: {e}; ordered as {fixed}")
        return fixed
    return stated_at


def dumps(obj: Any) -> str:
    """JSON text for jsonb: orjson's, or (an integer beyond 64 bits) the standard library's, exactly."""
    try:
        return orjson.dumps(obj).decode()
    except TypeError:
        return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_default)


def dumps_any(obj: Any, **orjson_options: Any) -> bytes:
    """JSON of ``obj`` (datetimes and UUIDs as strings), integers of any size exactly."""
    try:
        return orjson.dumps(obj, default=_default, **orjson_options)
    except TypeError:
        indent = 2 if orjson_options.get("option", 0) & orjson.OPT_INDENT_2 else None
        return json.dumps(obj, ensure_ascii=False, allow_nan=False, default=_default, indent=indent).encode()


def _default(obj: Any) -> str:
    return obj.isoformat() if hasattr(obj, "isoformat") else str(obj)


def loads(data: bytes | str) -> Any:
    """Parse JSON exactly: integers of any size stay integers; NaN, Infinity and 1e400 are refused.

    orjson.JSONDecodeError (a json.JSONDecodeError) on bad JSON, as orjson raises it.
    """
    raw = data.encode() if isinstance(data, str) else data
    digits = (raw if isinstance(raw, (bytes, bytearray)) else bytes(raw)).translate(_DIGITS_ONLY)
    if _LONG_RUN not in digits:
        return orjson.loads(raw)
    try:
        return json.loads(bytes(raw), parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise orjson.JSONDecodeError("nested too deeply", bytes(raw).decode(errors="replace"), 0) from None
    except json.JSONDecodeError as e:
        raise orjson.JSONDecodeError(e.msg, e.doc, e.pos) from None
    except ValueError as e:  # an integer past the interpreter's 4,300 digits
        raise orjson.JSONDecodeError(str(e), bytes(raw).decode(errors="replace"), 0) from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is no JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is infinity when parsed as double")
    return value
