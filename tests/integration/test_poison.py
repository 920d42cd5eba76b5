"""Poison events (issue 9, class 1): what the API accepts, every projection applies and every read serves.

Through the real interface on a real PostgreSQL: POST, a correction, a batch (JSON and NDJSON) and
`claims load`, with the two values that stopped projections for ever (an offset beyond PostgreSQL's
±15:59, an integer of 401 digits). Then events the API now refuses, appended through the
application as an older version stored them: the projections apply them normalised, say so in
their status, and a rebuild gives the same rows.
"""

from __future__ import annotations

import json
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters.settings import Settings
from api import cli
from projections.control import Control
from projections.runner import PROJECTIONS
from tests.conftest import meta
from tests.integration.conftest import caught_up, claim_body, view_rows

FAR_OFFSET = "2025-12-21T10:00:00+23:59"  # 2025-12-20T10:01:00Z
HUGE = int("7" * 401)


def strict_json(text: str) -> Any:
    """Parse standard JSON only (NaN and Infinity are refused), numbers as decimals.

    Decimals, because a number is compared by its value: jsonb writes 6.832033223741954e16 as
    68320332237419540, which is the same JSON number, and a float in Python only by chance.
    """
    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in an answer")
    return json.loads(text, parse_constant=refuse, parse_float=Decimal, parse_int=Decimal)


def all_live(services: Any) -> list[dict[str, Any]]:
    caught_up(services)
    from projections.runner import status
    rows = status(services.app, services.views)
    assert [(r["name"], r["state"], r["error"]) for r in rows] == [(n, "live", None) for n in PROJECTIONS]
    return rows


def reads_back(api: Any, claim_id: str, *, same: bool = True) -> dict[str, Any]:
    """The claim from every read: itself, its history, the list, the topic's timeline, the positions.

    ``same``: the list shows it as the claim itself does (not so for a value normalised in the view).
    """
    got = strict_json(api.get(f"/v1/claims/{claim_id}").text)
    history = api.get(f"/v1/claims/{claim_id}/history")
    assert history.status_code == 200, history.text
    strict_json(history.text)
    listed = {c["id"]: c for c in strict_json(api.get("/v1/claims", params={"limit": 1000}).text)["items"]}
    assert claim_id in listed
    if same:
        assert listed[claim_id] == got
    assert claim_id in {c["id"] for c in strict_json(api.get(f"/v1/topics/{got['topic']}/timeline").text)["items"]}
    positions = api.get("/v1/positions")
    assert positions.status_code == 200
    strict_json(positions.text)
    return got


@pytest.mark.parametrize("fields", [{"stated_at": FAR_OFFSET}, {"facts": {"n": HUGE}}], ids=["offset", "bigint"])
def test_a_posted_claim_with_a_far_offset_or_a_huge_integer_is_applied_everywhere(
    api: Any, live: Any, fields: dict[str, Any]
) -> None:
    answer = api.post("/v1/claims", json=claim_body(**fields))
    assert answer.status_code == 201, answer.text
    all_live(live)
    got = reads_back(api, answer.json()["id"])
    assert {k: got[k] for k in fields} == fields  # kept as given, the integer to its last digit
    history = api.get(f"/v1/claims/{got['id']}/history").json()
    assert {k: history[0]["data"][k] for k in fields} == fields


def test_a_far_offset_is_ordered_by_its_instant_in_utc(api: Any, live: Any) -> None:
    later = api.post("/v1/claims", json=claim_body(text="later", stated_at="2025-12-20T11:00:00Z")).json()
    earlier = api.post("/v1/claims", json=claim_body(text="earlier", stated_at=FAR_OFFSET)).json()  # 10:01Z
    all_live(live)
    timeline = [c["id"] for c in api.get("/v1/topics/miami-talks/timeline").json()["items"]]
    assert timeline.index(earlier["id"]) < timeline.index(later["id"])
    window = api.get("/v1/claims", params={"stated_from": "2025-12-20T10:00:00Z", "stated_to": "2025-12-20T10:30:00Z"})
    assert [c["id"] for c in window.json()["items"]] == [earlier["id"]]
    position = api.get("/v1/positions", params={"party": "dmitry-peskov", "topic": "miami-talks"}).json()["items"]
    assert position[0]["claim"] == later["id"]


@pytest.mark.parametrize("fields", [{"stated_at": FAR_OFFSET}, {"facts": {"n": HUGE}}], ids=["offset", "bigint"])
def test_a_correction_to_a_far_offset_or_a_huge_integer_is_applied_everywhere(
    api: Any, live: Any, fields: dict[str, Any]
) -> None:
    claim = api.post("/v1/claims", json=claim_body()).json()
    corrected = api.post(f"/v1/claims/{claim['id']}/corrections", json={"changes": fields, "reason": "r"},
                         headers={"If-Match": '"1"'})
    assert corrected.status_code == 200, corrected.text
    all_live(live)
    got = reads_back(api, claim["id"])
    assert got["version"] == 2 and {k: got[k] for k in fields} == fields


@pytest.mark.parametrize("ndjson", [False, True], ids=["json", "ndjson"])
def test_a_batch_with_a_far_offset_and_a_huge_integer_is_applied_everywhere_exactly(
    api: Any, live: Any, ndjson: bool
) -> None:
    items = [claim_body(stated_at=FAR_OFFSET), claim_body(facts={"n": HUGE, "m": 10**30, "k": -(2**63) - 1})]
    if ndjson:
        body, kind = "\n".join(json.dumps(i) for i in items), "application/x-ndjson"
    else:
        body, kind = json.dumps(items), "application/json"
    answer = api.post("/v1/claims/batch", content=body, headers={"content-type": kind})
    assert answer.status_code == 201, answer.text
    all_live(live)
    first, second = (reads_back(api, str(i)) for i in answer.json()["ids"])
    assert first["stated_at"] == FAR_OFFSET
    assert second["facts"] == {"n": HUGE, "m": 10**30, "k": -(2**63) - 1}  # integers, not floats


def test_claims_load_of_a_far_offset_and_a_huge_integer_is_applied_everywhere(
    api: Any, live: Any, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert settings.database_url is not None
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CLAIMS_DB_SCHEMA", settings.db_schema)
    ids = [str(uuid.uuid4()) for _ in range(2)]
    records = [
        {"type": "claim", **claim_body(id=ids[0], stated_at=FAR_OFFSET)},
        {"type": "claim", **claim_body(id=ids[1])},
        {"type": "correction", "claim": ids[1], "version": 1, "changes": {"facts": {"n": HUGE}}, "reason": "r"},
    ]
    path = tmp_path / "poison.ndjson"
    path.write_text("\n".join(json.dumps(r) for r in records))
    assert cli.main(["load", str(path)]) == 0, capsys.readouterr()
    assert "3 recorded" in capsys.readouterr().out
    all_live(live)
    assert reads_back(api, ids[0])["stated_at"] == FAR_OFFSET
    assert reads_back(api, ids[1])["facts"] == {"n": HUGE}
    assert cli.main(["history", ids[1], "--format", "json"]) == 0
    assert strict_json(capsys.readouterr().out)[1]["data"]["changes"]["facts"] == {"n": HUGE}


@pytest.mark.parametrize(("fields", "field", "reason"), [
    ({"facts": {"n": "1e400"}}, "facts.n", "finite"),
    ({"facts": {"n": "NaN"}}, "facts.n", "finite"),
    ({"facts": {"n": "Infinity"}}, "facts.n", "finite"),
    ({"facts": {"n": "1" + "0" * 1000}}, "facts.n", "1,000 digits"),
    ({"facts": {"n": '"a\\ud800"'}}, "facts", "lone surrogate"),
    ({"text": '"a\\u0000b"'}, "text", "NUL"),
    ({"stated_at": '"0001-01-01T00:00:00+05:00"'}, "stated_at", "years 1 to 9999 in UTC"),
    ({"stated_at": '"9999-12-31T23:00:00-05:00"'}, "stated_at", "years 1 to 9999 in UTC"),
], ids=["1e400", "nan", "infinity", "1001-digits", "surrogate", "nul", "year-0-in-utc", "year-10000-in-utc"])
def test_a_value_no_view_can_hold_is_refused_with_the_field_and_why(
    api: Any, fields: dict[str, Any], field: str, reason: str
) -> None:
    """The raw JSON is written by hand: json.dumps would not write NaN, 1e400 or a lone surrogate as they are."""
    (name, value), = fields.items()
    if name == "facts":
        (key, raw), = value.items()
        value = f'{{"{key}": {raw}}}'
    body = json.dumps(claim_body(**{name: "PLACEHOLDER"})).replace('"PLACEHOLDER"', value)
    for path, content, kind in (("/v1/claims", body, "application/json"),
                                ("/v1/claims/batch", f"[{body}]", "application/json"),
                                ("/v1/claims/batch", body, "application/x-ndjson")):
        answer = api.post(path, content=content, headers={"content-type": kind})
        assert answer.status_code == 422, (path, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        errors = answer.json().get("errors") or []
        named = [e for e in errors if e.get("field") in (field, "body")]
        assert named, (path, errors)
        if named[0]["field"] == field:
            assert reason in named[0]["reason"], (path, named)
    assert api.get("/v1/claims").json()["items"] == []


# -- events stored before the API refused them --------------------------------------------------

POISON = {  # what an event carries, as an older version (or a bug) stored it
    "nul": {"text": "Text mit \x00 darin", "facts": {"quelle\x00": "a\x00b"}},
    "nan": {"facts": {"n": float("nan"), "m": float("-inf")}},
    "before-the-calendar": {"stated_at": "0001-01-01T00:00:00+05:00"},
    "after-the-calendar": {"stated_at": "9999-12-31T23:00:00-05:00"},
    "offset": {"stated_at": FAR_OFFSET},
    "bigint": {"facts": {"n": HUGE}},
}


def rebuild_all(services: Any) -> None:
    control = Control(services.app.recorder.datastore)
    for name in PROJECTIONS:
        control.request_rebuild(name)
    deadline = time.monotonic() + 30
    from projections.runner import status
    while any(r["state"] != "live" or r["rebuild_requested"] for r in status(services.app, services.views)):
        assert time.monotonic() < deadline, status(services.app, services.views)
        time.sleep(0.05)


def test_events_stored_before_the_fix_are_applied_normalised_live_and_in_a_rebuild(api: Any, live: Any) -> None:
    app = live.app
    ids = {}
    for name, fields in POISON.items():
        ids[name] = str(app.record_claim(claim_body(**fields, speaker="dmitry-peskov", about="kirill-dmitriev"),
                                         meta()).value.id)
    plain = app.record_claim(claim_body(speaker="dmitry-peskov", about="kirill-dmitriev"), meta()).value
    app.correct_claim(plain.id, 1, {"facts": {"n": float("nan")}, "stated_at": "0001-01-01T00:00:00+05:00"},
                      "from an old client", meta())
    rows = all_live(live)
    normalised = {r["name"]: r["normalised"] for r in rows}
    # nul, nan, both calendars and the correction: noted by the claims view; the positions view
    # holds no facts, so it notes the text and the stated_at ones.
    assert normalised["claims"]["count"] == 5, normalised
    assert normalised["positions"]["count"] == 4, normalised
    assert normalised["claims"]["last"]["event"] == "ClaimCorrected"
    assert any("stored as null" in note for note in normalised["claims"]["last"]["notes"])
    for name, claim_id in ids.items():
        got = reads_back(api, claim_id, same=name in ("offset", "bigint"))
        if name == "nul":
            assert got["text"] == "Text mit \x00 darin"  # the claim itself is the event's, as recorded
            listed = live.views["claims"].list(limit=1000)[0]
            assert next(c for c in listed if c["id"] == claim_id)["text"] == "Text mit \ufffd darin"
    listed = {c["id"]: c for c in live.views["claims"].list(limit=1000)[0]}
    assert listed[ids["nan"]]["facts"] == {"n": None, "m": None}
    assert listed[ids["bigint"]]["facts"] == {"n": HUGE}
    assert listed[str(plain.id)]["stated_at"] == "0001-01-01T00:00:00Z"

    before = {name: view_rows(live, name) for name in PROJECTIONS}
    rebuild_all(live)
    rows = all_live(live)
    assert {name: view_rows(live, name) for name in PROJECTIONS} == before
    assert {r["name"]: r["normalised"]["count"] for r in rows} == {n: v["count"] for n, v in normalised.items()}


def test_the_status_says_how_many_events_were_normalised(api: Any, live: Any, capsys: pytest.CaptureFixture[str],
                                                         settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    live.app.record_claim(claim_body(**POISON["nan"], speaker="dmitry-peskov"), meta())
    all_live(live)
    claims = next(r for r in api.get("/v1/projections").json()["items"] if r["name"] == "claims")
    assert claims["normalised"]["count"] == 1
    assert claims["normalised"]["last"]["notes"] == ["facts.n: nan is no JSON number; stored as null",
                                                     "facts.m: -inf is no JSON number; stored as null"]
    assert settings.database_url is not None
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CLAIMS_DB_SCHEMA", settings.db_schema)
    monkeypatch.setenv("COLUMNS", "400")
    assert cli.main(["projections", "status"]) == 0
    out = capsys.readouterr().out
    assert "normalised" in out and "1, last event" in out and "stored as null" in out


def test_a_batch_refuses_a_nul_or_a_lone_surrogate_however_the_json_spells_it(api: Any) -> None:
    """An escape (of a surrogate in either case, or of NUL), or a surrogate's UTF-8 bytes (which the exact parser, taken for a
    number beyond 64 bits, lets through), among good claims: the item and its field are named."""
    good = json.dumps(claim_body()).encode()
    for spelling in (b'"a\\uD800"', b'"a\xed\xa0\x80"', b'"a\\u0000"'):
        bad = json.dumps(claim_body(text="PLACEHOLDER", facts={"n": 1})).encode()
        bad = bad.replace(b'"PLACEHOLDER"', spelling).replace(b'"n": 1', b'"n": 12345678901234567890')
        answer = api.post("/v1/claims/batch", content=b"\n".join([good, bad, good]),
                          headers={"content-type": "application/x-ndjson"})
        assert answer.status_code == 422, answer.text
        assert [(e["index"], e["field"]) for e in answer.json()["errors"]] == [(1, "text")]
    assert api.get("/v1/claims").json()["items"] == []
