"""Stored events are written byte for byte as the library's encoder writes them, however they are encoded."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.settings import Settings
from adapters.transcoder import FastJSONTranscoder


def _registered(transcoder: JSONTranscoder) -> JSONTranscoder:
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):  # the application's (register_transcodings)
        transcoder.register(transcoding)
    return transcoder


LIBRARY, FAST = _registered(JSONTranscoder()), _registered(FastJSONTranscoder())


def _outcome(transcoder: JSONTranscoder, value: Any) -> bytes | type[BaseException]:
    try:
        return transcoder.encode(value)
    except Exception as e:  # noqa: BLE001  (the kind of refusal is what is compared)
        return type(e)


def _same(value: Any) -> None:
    assert _outcome(FAST, value) == _outcome(LIBRARY, value)


class Text(str):
    """A str subclass, as a caller might pass."""


leaves = (
    st.none() | st.booleans() | st.text() | st.integers() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats() | st.floats(min_value=1e-6, max_value=1e18) | st.datetimes(timezones=st.just(UTC))
    | st.datetimes() | st.uuids() | st.decimals(allow_nan=False) | st.text().map(Text)
)
values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=5) | st.integers(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=8), values, max_size=8))
def test_any_state_is_encoded_to_the_same_bytes_or_refused_with_the_same_error(state: dict[str, Any]) -> None:
    _same(state)


def test_every_character_is_escaped_as_the_library_escapes_it() -> None:
    every = "".join(chr(c) for c in range(0x3000)) + "\u2028\u2029\ufeff\U0001f600\U0010ffff"
    _same({"text": every})
    assert FAST.encode({"text": every}) == LIBRARY.encode({"text": every})  # written, not refused


def test_what_orjson_would_write_differently_is_written_as_the_library_writes_it() -> None:
    state = {
        "floats": [1e-05, 2.5e-07, 1e16, 1.5e300, math.nan, math.inf, -math.inf, 5e-324],
        "big": [2**64, -(2**63) - 1, 10**30],
        "id": UUID("5b0c2d1e-54a3-4b6e-9f0e-7c1c2b8a0d14"),
        "amount": Decimal("1.10"),
        "at": datetime(2025, 12, 21, 22, 40, tzinfo=timezone(timedelta(hours=1))),
        "pair": ("a", 1),
        "keys": {1: "one", None: "none"},
    }
    _same(state)
    for name, value in state.items():
        for each in value if isinstance(value, list) else [value]:
            _same({name: each})


def test_a_lone_surrogate_is_refused_as_the_library_refuses_it() -> None:
    assert _outcome(FAST, {"text": "a\ud800b"}) is UnicodeEncodeError


def test_a_claims_state_is_written_by_orjson_not_handed_back_to_the_library(monkeypatch: Any) -> None:
    state = {
        "timestamp": datetime(2025, 12, 21, 21, 40, 0, 123456, tzinfo=UTC), "originator_topic": "domain.claim:Claim",
        "speaker": "dmitry-peskov", "co_speakers": ["witkoff"], "text": "„Informationen zu erhalten“\n\t\"x\"",
        "verbatim": True, "position": None, "source": {"url": "https://example.org/a", "published_at": None},
        "facts": {"injured": 5, "amount_eur_bn": 2.5, "confirmed": False},
        "meta": {"recorded_at": "2025-12-21T21:40:00.123456Z", "recorded_by": "local", "correlation_id": "r1"},
    }
    expected = LIBRARY.encode(state)

    def refuse(self: Any, obj: Any) -> bytes:
        raise AssertionError("handed back to the library's encoder")

    monkeypatch.setattr(JSONTranscoder, "encode", refuse)
    assert FAST.encode(state) == expected


def test_the_application_encodes_with_the_fast_transcoder(tmp_path: Any) -> None:
    env = Settings(home=tmp_path).eventsourcing_env("postgresql://u@localhost/db")
    assert env["TRANSCODER_TOPIC"] == "adapters.transcoder:FastJSONTranscoder"
