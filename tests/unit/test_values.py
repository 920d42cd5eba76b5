"""What a view can store (projections/values.py): exact JSON, instants in UTC, normalised events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import psycopg
import pytest
from eventsourcing.persistence import OperationalError

from domain.claim import Claim
from projections import values
from adapters.unavailable import database_unavailable
from tests.conftest import meta


def test_an_offset_beyond_postgresqls_is_ordered_by_its_instant_in_utc() -> None:
    assert values.utc_instant("2025-12-21T10:00:00+23:59") == datetime(2025, 12, 20, 10, 1, tzinfo=UTC)
    assert values.utc_instant("2025-12-21") == datetime(2025, 12, 21, tzinfo=UTC)
    with pytest.raises(values.NotStorable, match="years 1 to 9999 in UTC"):
        values.utc_instant("0001-01-01T00:00:00+05:00")


def test_loads_keeps_integers_beyond_64_bits_and_refuses_what_json_has_not() -> None:
    huge = int("7" * 401)
    assert values.loads(f'{{"n": {huge}, "m": -9223372036854775809}}'.encode()) == {"n": huge, "m": -(2**63) - 1}
    assert values.loads(values.dumps({"n": huge})) == {"n": huge}
    for bad in (b'{"n": NaN, "m": 10000000000000000000}', b'{"n": 1e400, "m": 10000000000000000000}'):
        with pytest.raises(orjson.JSONDecodeError):
            values.loads(bad)


def test_an_event_is_normalised_to_what_a_view_can_hold_and_says_what_changed() -> None:
    claim = Claim(id=uuid.uuid4(), speaker="a", co_speakers=[], topic="t", text="x\x00y", language="de",
                  verbatim=False, stance="positive", position=None, kind="statement",
                  stated_at="9999-12-31T23:00:00-05:00", source={}, about=None,
                  facts={"n": float("nan"), "ok": 1}, meta=meta())
    event = claim.collect_events()[0]
    fixed, notes = values.normalised_event(event)
    assert (fixed.text, fixed.facts, fixed.stated_at) == ("x\ufffdy", {"n": None, "ok": 1}, "9999-12-31T23:59:59.999999Z")
    assert event.text == "x\x00y"  # the stored event is untouched
    assert len(notes) == 3


def test_a_program_limit_is_no_database_outage() -> None:
    limit = OperationalError("index row size 3560 exceeds btree version 4 maximum 2704")
    limit.__cause__ = psycopg.errors.ProgramLimitExceeded("index row size")
    assert not database_unavailable(limit)
    down = OperationalError("connection refused")
    down.__cause__ = psycopg.OperationalError("connection refused")
    assert database_unavailable(down)
    assert not database_unavailable(ValueError("no"))


def test_loads_sends_a_run_of_19_digits_to_the_exact_parser_wherever_it_comes_from() -> None:
    assert values.loads(memoryview(b'{"n": 12345678901234567890}')) == {"n": 12345678901234567890}
    assert values.loads(bytearray(b'[-9223372036854775809]')) == [-(2**63) - 1]
    assert values.loads(b'["1234567890123456789", 123456789012345678]') == ["1234567890123456789", 123456789012345678]


def test_only_json_that_may_hold_a_nul_or_a_lone_surrogate_is_flagged() -> None:
    for flagged in (rb'{"t": "a\u0000"}', rb'["\uD83D"]', rb'["\udfff"]', b'["\xed\xa0\x80"]'):
        assert values.may_hold_unstorable_text(flagged), flagged
    for clean in (rb'["\u00e4 \u2028"]', "Дмитриев, 한국 ü".encode(), b'{"n": 0}'):
        assert not values.may_hold_unstorable_text(clean), clean
