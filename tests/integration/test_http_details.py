"""HTTP details (issue 9, class 5), bounded answers (class 7) and dates alone for as_of / at (issue 11)."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import cli
from api.app import create_app
from tests.integration.conftest import PARTIES, caught_up, claim_body


@pytest.fixture
def http(live: Any) -> Iterator[Any]:
    with TestClient(create_app(services=live)) as client:
        for party in PARTIES:
            assert client.post("/v1/parties", json=party).status_code == 201
        yield client


def write(http: Any, **overrides: Any) -> tuple[dict[str, Any], int]:
    response = http.post("/v1/claims", json=claim_body(**overrides))
    assert response.status_code == 201, response.text
    return response.json(), int(response.headers["X-Event-Position"])


def fields(response: Any) -> set[str]:
    return {e["field"] for e in response.json().get("errors") or []}


# -- If-Match (RFC 9110 §13.1.1: strong comparison, a list) -------------------------------------------------


def correct(http: Any, claim_id: str, *if_match: str, stance: str = "neutral") -> Any:
    body = {"changes": {"stance": stance}, "reason": "checked again"}
    return http.post(f"/v1/claims/{claim_id}/corrections", json=body, headers=[("If-Match", v) for v in if_match])


def test_a_weak_if_match_never_matches(http: Any) -> None:
    claim, _ = write(http)
    for weak in ('W/"1"', 'W/"1", W/"2"'):
        refused = correct(http, claim["id"], weak)
        assert refused.status_code == 412, refused.text
        assert "weak" in refused.json()["detail"]
    assert http.get(f"/v1/claims/{claim['id']}").json()["version"] == 1, "nothing was written"
    assert correct(http, claim["id"], 'W/"7", "1"').status_code == 200, "the strong tag in the list matches"


def test_two_if_match_headers_and_a_list_in_one_are_the_same(http: Any) -> None:
    one, _ = write(http, text="eins")
    two, _ = write(http, text="zwei")
    assert correct(http, one["id"], '"5", "1"').status_code == 200
    assert correct(http, two["id"], '"5"', '"1"').status_code == 200
    # Now both are at version 2: a list naming neither fails the same way, one header or two.
    single, double = correct(http, one["id"], '"5", "1"'), correct(http, two["id"], '"5"', '"1"')
    assert (single.status_code, double.status_code) == (412, 412)
    assert single.json()["current_version"] == double.json()["current_version"] == 2
    assert correct(http, one["id"], "*", stance="positive").status_code == 200, "* matches the current version"


# -- strict booleans ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, "on", None])
def test_verbatim_takes_only_json_true_or_false(http: Any, value: Any) -> None:
    refused = http.post("/v1/claims", json=claim_body(verbatim=value))
    assert refused.status_code == 422, refused.text
    assert fields(refused) == {"verbatim"}
    claim, _ = write(http)
    corrected = http.post(f"/v1/claims/{claim['id']}/corrections", headers={"If-Match": '"1"'},
                          json={"changes": {"verbatim": value}, "reason": "r"})
    assert corrected.status_code == 422
    if value is not None:  # null in a correction means "leave it as it is": here, a correction of nothing
        assert fields(corrected) == {"changes.verbatim"}


def test_boolean_query_parameters_take_only_true_or_false(http: Any) -> None:
    for path, name in [("/v1/parties", "merged"), ("/v1/audit/verify", "resume")]:
        for value in ("yes", "1", "on", "True"):
            refused = http.get(path, params={name: value})
            assert refused.status_code == 422 and fields(refused) == {name}, (path, value, refused.text)
        assert http.get(path, params={name: "false"}).status_code == 200


# -- as_of / at: no Unix times; a date alone is the end of that day, UTC ------------------------------------


@pytest.mark.parametrize("value", ["-1", "0", "1766361600", "1e9", "2025-13-01", "2025-12-22T10:00", "yesterday"])
def test_as_of_and_at_refuse_numbers_and_non_dates(http: Any, value: str) -> None:
    claim, _ = write(http)
    for path, params in [
        ("/v1/positions", {"as_of": value}), ("/v1/positions", {"at": value}),
        ("/v1/positions/history", {"party": "russia", "topic": "miami-talks", "as_of": value}),
        ("/v1/positions/history", {"party": "russia", "topic": "miami-talks", "at": value}),
        ("/v1/reports/positions", {"at": value}), (f"/v1/claims/{claim['id']}", {"as_of": value}),
    ]:
        refused = http.get(path, params=params)
        assert refused.status_code == 422, (path, params, refused.text)
        assert fields(refused) == set(params) - {"party", "topic"}, (path, refused.json())


def test_a_date_alone_works_for_at_and_counts_claims_stated_that_day(http: Any, live: Any) -> None:
    write(http, stated_at="2025-12-20", stance="negative", text="früher")
    write(http, stated_at="2025-12-22T23:30:00+00:00", stance="positive", text="am Tag")
    write(http, stated_at="2025-12-23T00:30:00+01:00", stance="neutral", text="UTC noch am 22.")  # 23:30 UTC
    write(http, stated_at="2025-12-24", stance="negative", text="danach")
    caught_up(live)

    def stance(at: str) -> str:
        answer = http.get("/v1/positions", params={"party": "russia", "topic": "miami-talks", "at": at})
        assert answer.status_code == 200, answer.text
        return answer.json()["items"][0]["stance"]

    assert stance("2025-12-22") == "neutral", "every claim stated on the 22nd (UTC) counts, the latest wins"
    assert stance("2025-12-21") == "negative"
    assert stance("2025-12-23") == "neutral"
    assert stance("2025-12-24") == "negative"
    history = http.get("/v1/positions/history", params={"party": "russia", "topic": "miami-talks",
                                                         "at": "2025-12-22"}).json()["items"]
    assert [h["stance"] for h in history] == ["negative", "positive", "neutral"]


def test_a_date_alone_works_for_as_of_meaning_recorded_by_the_end_of_that_day(http: Any, live: Any) -> None:
    claim, _ = write(http)
    caught_up(live)
    today = datetime.now(UTC).date()
    for day, expected in [(today, 1), (today + timedelta(days=1), 1), (today - timedelta(days=1), 0)]:
        answer = http.get("/v1/positions", params={"topic": "miami-talks", "as_of": day.isoformat()})
        assert answer.status_code == 200, answer.text
        assert len([p for p in answer.json()["items"] if p["party"] == "russia"]) == expected, day
    assert http.get(f"/v1/claims/{claim['id']}", params={"as_of": today.isoformat()}).json()["version"] == 1
    before = http.get(f"/v1/claims/{claim['id']}", params={"as_of": (today - timedelta(days=1)).isoformat()})
    assert before.status_code == 404


def test_claims_positions_takes_a_date_alone_too(
    http: Any, live: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(http, stated_at="2025-12-22", stance="positive")
    write(http, stated_at="2025-12-23", stance="negative")
    caught_up(live)
    monkeypatch.setenv("DATABASE_URL", live.settings.database_url)
    monkeypatch.setenv("CLAIMS_DB_SCHEMA", live.settings.db_schema)
    code = cli.main(["positions", "--party", "russia", "--topic", "miami-talks", "--at", "2025-12-22",
                     "--as-of", datetime.now(UTC).date().isoformat(), "--format", "json"])
    out = capsys.readouterr().out
    assert code == 0
    assert [row["stance"] for row in json.loads(out)] == ["positive"]
    with pytest.raises(SystemExit):
        cli.main(["positions", "--at", "-1"])
    assert "must be a date" in capsys.readouterr().err


# -- 500s: a request id in the header and the log; no detail to the client ----------------------------------


def test_a_500_carries_its_request_id_in_the_header_and_the_log(
    live: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: Any) -> Any:  # a fault injected where no input can reach: a bug, as a 500 is
        raise RuntimeError("/secret/path.py: relation claims_topics is broken")

    monkeypatch.setattr(type(live.views["topics"]), "list", broken)
    with TestClient(create_app(services=live), raise_server_exceptions=False) as client, \
            caplog.at_level(logging.ERROR):
        failed = client.get("/v1/topics", headers={"X-Request-ID": "req-500-check"})
    assert failed.status_code == 500
    assert failed.headers["X-Request-ID"] == "req-500-check"
    body = failed.json()
    assert body["request_id"] == "req-500-check"
    assert "secret" not in failed.text and "RuntimeError" not in failed.text
    assert body["error_id"] in body["detail"]
    logged = [r for r in caplog.records if "req-500-check" in r.getMessage()]
    assert logged and body["error_id"] in logged[0].getMessage()
    assert "secret" in (logged[0].exc_text or "") or logged[0].exc_info


# -- cursor pages: positions and a topic's timeline; the report streamed -------------------------------------


TOPICS = ["miami-talks", "gaza-ceasefire", "energy-prices", "sanctions", "grain-deal"]


def seed(http: Any, live: Any) -> None:
    for i, topic in enumerate(TOPICS):
        for speaker in ("Peskow", "Ukraine", "BBC"):
            write(http, speaker=speaker, about=None, topic=topic, stated_at=f"2025-12-{10 + i:02d}", text=f"{topic} {i}")
    caught_up(live)


def follow(http: Any, path: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    pages, cursor = 0, None
    while True:
        answer = http.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert len(page["items"]) <= params["limit"]
        items += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return items, pages


def test_positions_come_in_cursor_pages_that_add_up_to_the_whole(http: Any, live: Any) -> None:
    seed(http, live)
    whole = http.get("/v1/positions").json()
    assert whole["next_cursor"] is None and len(whole["items"]) >= 15
    paged, pages = follow(http, "/v1/positions", limit=4)
    assert paged == whole["items"] and pages == -(-len(paged) // 4)
    assert [(p["party"], p["topic"]) for p in paged] == sorted((p["party"], p["topic"]) for p in paged)
    at = {"at": "2025-12-12"}
    assert follow(http, "/v1/positions", limit=3, **at)[0] == http.get("/v1/positions", params=at).json()["items"]
    assert len(http.get("/v1/positions", params={"limit": 1000}).json()["items"]) == len(whole["items"])
    refused = http.get("/v1/positions", params={"limit": 1001})
    assert refused.status_code == 422 and fields(refused) == {"limit"}


def test_a_topic_timeline_comes_in_cursor_pages(http: Any, live: Any) -> None:
    for day in range(1, 8):
        write(http, stated_at=f"2025-12-{day:02d}", text=f"Tag {day}")
        write(http, stated_at=f"2025-12-{day:02d}", text=f"Tag {day} noch einmal")
    caught_up(live)
    whole = http.get("/v1/topics/miami-talks/timeline").json()
    assert whole["next_cursor"] is None and len(whole["items"]) == 14
    paged, pages = follow(http, "/v1/topics/miami-talks/timeline", limit=3)
    assert [c["id"] for c in paged] == [c["id"] for c in whole["items"]] and pages == 5


def test_a_cursor_not_given_out_by_a_list_is_refused_naming_the_field(http: Any, live: Any) -> None:
    seed(http, live)
    timeline_cursor = http.get("/v1/topics/miami-talks/timeline", params={"limit": 1}).json()["next_cursor"]
    positions_cursor = http.get("/v1/positions", params={"limit": 1}).json()["next_cursor"]
    for path, cursor in [("/v1/positions", timeline_cursor), ("/v1/topics/miami-talks/timeline", positions_cursor),
                         ("/v1/positions", "not-a-cursor"), ("/v1/topics/miami-talks/timeline", "%%%")]:
        refused = http.get(path, params={"cursor": cursor})
        assert refused.status_code == 422, (path, refused.text)
        assert fields(refused) == {"cursor"}


def test_the_positions_report_streams_every_position_a_page_at_a_time(
    http: Any, live: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.routers import positions

    seed(http, live)
    whole = http.get("/v1/positions").json()["items"]
    monkeypatch.setattr(positions, "REPORT_PAGE", 4)  # several pages from a small log
    as_json = http.get("/v1/reports/positions")
    assert as_json.status_code == 200 and "content-length" not in as_json.headers  # streamed
    assert as_json.json() == {"items": whole}
    as_csv = http.get("/v1/reports/positions", params={"format": "csv"})
    rows = list(csv.reader(io.StringIO(as_csv.text)))
    assert rows[0] == list(positions.REPORT_COLUMNS)
    assert [(r[0], r[1]) for r in rows[1:]] == [(p["party"], p["topic"]) for p in whole]
    as_markdown = http.get("/v1/reports/positions", params={"format": "markdown"}).text.splitlines()
    assert len(as_markdown) == 2 + len(whole) and as_markdown[0].startswith("| party | topic |")
    one_party = http.get("/v1/reports/positions", params={"party": "Peskow", "format": "csv"}).text
    assert len(one_party.splitlines()) == 1 + len([p for p in whole if p["party"] == "dmitry-peskov"])


def test_a_sources_published_at_is_never_a_unix_time(http: Any) -> None:
    for value in (1766361600, 0, -1, 1.5e9):
        source = {"url": "https://example.org/a", "published_at": value}
        refused = http.post("/v1/claims", json=claim_body(source=source))
        assert refused.status_code == 422 and fields(refused) == {"source.published_at"}, (value, refused.text)
    given = {"url": "https://example.org/a", "published_at": "2025-12-21T22:40:00+01:00"}
    assert http.post("/v1/claims", json=claim_body(source=given)).status_code == 201


def test_an_unknown_topic_is_refused_on_positions_as_an_unknown_party_is(http: Any) -> None:
    _, position = write(http)
    for path in ("/v1/positions", "/v1/positions/history", "/v1/reports/positions"):
        params = {"topic": "no-such-topic", **({"party": "russia"} if "history" in path else {})}
        refused = http.get(path, params=params)
        assert refused.status_code == 422 and fields(refused) == {"topic"}, (path, refused.text)
    known = http.get("/v1/positions", params={"topic": "miami-talks"}, headers={"X-Min-Position": str(position)})
    assert known.status_code == 200 and known.json()["items"]
