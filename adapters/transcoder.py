"""The library's stored-event JSON, written by orjson wherever orjson writes the very same bytes.

The eventsourcing library encodes each event's state with the standard library's json (compact
separators, UTF-8 as is, ``{"_type_": …, "_data_": …}`` for the types it registers). For a
batch of 10,000 claims that was the largest share of the request's Python time (py-spy,
docs/performance.md, "Third round"). orjson writes the same bytes for plain JSON values: exact
dicts, lists, strings (same escapes: checked over every code point to U+07FF and beyond by
tests/unit/test_transcoder.py), ints, booleans, None, and floats written without an exponent.
It differs elsewhere: floats in exponent notation (``1e-05`` vs ``1e-5`` in some versions), NaN
and infinities (``null``), integers beyond 64 bits (refused), UUIDs, enums and subclasses
(written natively). So a state is first walked: anything but plain values and datetimes (the
events' timestamps, wrapped as the library wraps them) goes to the library's encoder, as does
anything orjson refuses (a lone surrogate, a non-string key, nesting too deep): its bytes, or
its error, exactly as before. Decoding is the library's. Chosen with TRANSCODER_TOPIC
(adapters/settings.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS
_DEPTH = 64  # deeper than any event here; deeper states go to the library's encoder
_SMALLEST, _LARGEST = 1e-4, 1e16  # repr writes a float between these without an exponent


class FastJSONTranscoder(JSONTranscoder):
    """``JSONTranscoder``, encoding plain states with orjson (same bytes), the rest as the library does."""

    def encode(self, obj: Any) -> bytes:
        if _plain(obj, _DEPTH):
            try:
                return orjson.dumps(obj, default=self._datetime, option=_OPTIONS)
            except orjson.JSONEncodeError:
                pass  # the library's encoder says what is wrong, as it always did
        return super().encode(obj)

    def _datetime(self, o: Any) -> dict[str, Any]:
        if type(o) is not datetime:  # _plain lets no other type through; refuse rather than guess
            raise TypeError(type(o).__name__)
        return self._encode_obj(o)  # {"_type_": "datetime_iso", "_data_": o.isoformat()}, as registered


def _plain(value: Any, depth: int) -> bool:  # noqa: PLR0911  (one answer per kind of value)
    """Whether orjson writes ``value`` exactly as the library's json encoder does.

    Written for speed (it runs once per stored event): the common leaves are tested inline.
    """
    kind = type(value)
    if kind is dict:
        if depth == 0:
            return False
        for item in value.values():
            t = type(item)
            if t is str or t is bool or item is None:
                continue
            if not _plain(item, depth - 1):
                return False
        return True  # keys: orjson refuses any but str (the library's encoder then answers)
    if kind is str or kind is bool or value is None or kind is int:  # ints beyond 64 bits: refused, see above
        return True
    if kind is list:
        if depth == 0:
            return False
        for item in value:
            if type(item) is not str and not _plain(item, depth - 1):
                return False
        return True
    if kind is float:
        return value == 0.0 or _SMALLEST <= abs(value) < _LARGEST  # NaN and infinities fail both
    return kind is datetime
