"""The read side on real PostgreSQL: projections, read-your-writes, rebuilds, failures, positions."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.loader import Loader, parse, read_records
from projections.control import Control
from projections.runner import PROJECTIONS
from tests.conftest import meta
from tests.integration.conftest import PARTIES, caught_up, claim_body, view_rows

EXAMPLE = Path(__file__).parents[2] / "examples" / "miami-talks.ndjson"


@pytest.fixture
def http(live: Any) -> Any:
    with TestClient(create_app(services=live)) as client:
        for party in PARTIES:
            assert client.post("/v1/parties", json=party).status_code == 201
        yield client


def write(http: Any, **overrides: Any) -> tuple[dict[str, Any], int]:
    response = http.post("/v1/claims", json=claim_body(**overrides))
    assert response.status_code == 201, response.text
    return response.json(), int(response.headers["X-Event-Position"])


def test_a_read_with_x_min_position_sees_the_write_it_follows(http: Any) -> None:
    claim, position = write(http, text="Lesen, was man schrieb")
    listed = http.get("/v1/claims", params={"speaker": "Peskow"}, headers={"X-Min-Position": str(position)})
    assert listed.status_code == 200
    assert claim["id"] in [c["id"] for c in listed.json()["items"]]


def test_a_read_waits_at_most_a_bounded_time_then_answers_504(http: Any) -> None:
    started = time.monotonic()
    response = http.get("/v1/claims", headers={"X-Min-Position": "999999999"})
    assert response.status_code == 504 and response.headers["content-type"] == "application/problem+json"
    assert time.monotonic() - started < 10


def test_claims_filters_text_search_and_party_membership(http: Any) -> None:
    write(http, text="Die Gespräche waren produktiv", topic="miami-talks", kind="assessment")
    _, last = write(http, speaker="ukraine", about=None, text="Drohnenangriff auf Kiew", topic="kyiv-drone-strike",
                    kind="report", stance="negative", stated_at="2025-12-23", facts={"injured": 5})
    h = {"X-Min-Position": str(last)}
    texts = lambda **p: sorted(c["text"] for c in http.get("/v1/claims", params=p, headers=h).json()["items"])  # noqa: E731
    assert texts(q="Gespräch") == ["Die Gespräche waren produktiv"]  # German stemming: Gespräche ~ Gespräch
    assert texts(topic="kyiv-drone-strike") == ["Drohnenangriff auf Kiew"]
    assert texts(party="russia") == ["Die Gespräche waren produktiv"]  # Peskov -> Kremlin -> Russia
    assert texts(party="Russland") == texts(party="russia")  # a filter takes aliases too
    assert texts(kind="report", stated_from="2025-12-22") == ["Drohnenangriff auf Kiew"]
    assert texts(stated_to="2025-12-22", about="Dmitrijew") == ["Die Gespräche waren produktiv"]
    assert http.get("/v1/claims", params={"party": "nobody"}).status_code == 422
    assert http.get("/v1/claims", params={"cursor": "garbage"}).status_code == 422
    assert http.get("/v1/claims", params={"limit": 1001}).status_code == 422


def test_pages_stay_stable_while_claims_are_recorded(http: Any) -> None:
    for i in range(5):
        _, last = write(http, text=f"Aussage {i}")
    h = {"X-Min-Position": str(last)}
    first = http.get("/v1/claims", params={"limit": 2}, headers=h).json()
    for i in range(5, 8):
        _, last = write(http, text=f"Aussage {i}")  # recorded between reading pages
    seen = [c["text"] for c in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = http.get("/v1/claims", params={"limit": 2, "cursor": cursor}, headers={"X-Min-Position": str(last)})
        seen += [c["text"] for c in page.json()["items"]]
        cursor = page.json()["next_cursor"]
    assert seen == [f"Aussage {i}" for i in (4, 3, 2, 1, 0)]


def test_timeline_orders_a_topic_by_stated_at_and_shows_status(http: Any) -> None:
    late, _ = write(http, text="spät", stated_at="2025-12-23")
    early, _ = write(http, text="früh", stated_at="2025-12-21T09:00:00+01:00")
    _, last = write(http, text="mittags", stated_at="2025-12-21T12:00:00Z")
    r = http.post(f"/v1/claims/{early['id']}/retraction", json={"reason": "falsch"})
    timeline = http.get("/v1/topics/miami-talks/timeline", headers={"X-Min-Position": r.headers["X-Event-Position"]})
    assert [(c["text"], c["status"]) for c in timeline.json()["items"]] == [
        ("früh", "retracted"), ("mittags", "active"), ("spät", "active"),
    ]
    assert http.get("/v1/topics/nowhere/timeline").status_code == 404


def test_parties_list_counts_claims_and_resolve_finds_spelling_variants(http: Any) -> None:
    _, last = write(http)
    h = {"X-Min-Position": str(last)}
    parties = {p["id"]: p for p in http.get("/v1/parties", headers=h).json()["items"]}
    assert parties["dmitry-peskov"]["claims"] == 1 and parties["russia"]["claims"] == 0
    for variant in ("Dmitrijev", "Dmitriyev", "dmitriew", "Дмитриев"):
        candidates = http.get("/v1/parties/resolve", params={"name": variant}, headers=h).json()["candidates"]
        assert candidates[0]["party"] == "kirill-dmitriev", (variant, candidates)
    assert http.get("/v1/parties/resolve", params={"name": "Dmitrijew"}).json()["candidates"][0]["score"] == 1.0


def test_unknown_speaker_answer_lists_the_candidates(http: Any) -> None:
    _, last = write(http)
    caught = {"X-Min-Position": str(last)}
    http.get("/v1/parties", headers=caught)
    response = http.post("/v1/claims", json=claim_body(speaker="Peskov Dmitri"))
    assert response.status_code == 422
    assert response.json()["candidates"][0]["party"] == "dmitry-peskov"


def load(services: Any, lines: list[tuple[str, Any]]) -> None:
    loader = Loader(services.app, meta)
    for place, record in lines:
        loader.add(parse(place, record))
    loader.flush()
    assert loader.report.failures == []


def test_positions_on_the_miami_articles_in_system_and_valid_time(live: Any) -> None:
    records = list(read_records(EXAMPLE))
    second = next(i for i, (_, r) in enumerate(records) if "2025-12-23" in str(r.get("source", {}).get("url", "")))
    load(live, records[:second])
    caught_up(live)
    view = live.views["positions"]
    mine = lambda rows: [(p["party"], p["stance"], p["speaker"], str(p["claim"])[:8], p["claims"]) for p in rows]  # noqa: E731
    assert mine(view.positions(party="russia", topic="miami-talks")) == [
        ("russia", "negative", "dmitry-peskov", "0bb01c90", 3)
    ]
    after_first = [("ukraine", "neutral", "volodymyr-zelensky", "67175085", 5)]  # the last one recorded that day
    assert mine(view.positions(party="ukraine", topic="miami-talks")) == after_first
    between = max(p["updated_at"] for p in view.positions())
    time.sleep(0.01)
    load(live, records[second:])
    caught_up(live)
    assert mine(view.positions(party="ukraine", topic="miami-talks")) == [
        ("ukraine", "positive", "volodymyr-zelensky", "7108de04", 7)
    ]
    # System time: as the desk knew it between the articles, whatever was stated since.
    assert mine(view.positions(party="ukraine", topic="miami-talks", as_of=between)) == after_first
    assert [p["topic"] for p in view.positions(party="ukraine", as_of=between)] == ["miami-talks"]
    # Valid time: what had been said by the 22nd, though recorded after it.
    at = datetime.fromisoformat("2025-12-22T00:00:00+00:00")
    by_22nd = {p["party"]: (p["stance"], str(p["claim"])[:8]) for p in view.positions(topic="miami-talks", at=at)}
    assert by_22nd == {
        "ukraine": ("neutral", "67175085"), "volodymyr-zelensky": ("neutral", "67175085"),
        "rustem-umerov": ("positive", "32557f03"), "steve-witkoff": ("positive", "32557f03"),
        "us-government": ("positive", "32557f03"), "united-states": ("positive", "32557f03"),
        "russia": ("negative", "0bb01c90"), "kremlin": ("negative", "0bb01c90"),
        "dmitry-peskov": ("negative", "0bb01c90"),
    }
    assert "unknown-seed-outlet" in {p["party"] for p in view.positions(topic="miami-talks")}  # stated on the 23rd
    # Both, and over HTTP as a client asks.
    with TestClient(create_app(services=live)) as client:
        over_http = client.get("/v1/positions", params={"party": "ukraine", "topic": "miami-talks",
                                                         "as_of": between.isoformat()}).json()["items"]
        assert [(p["stance"], p["claim"][:8], p["claims"]) for p in over_http] == [("neutral", "67175085", 5)]
        at_22nd = client.get("/v1/positions", params={"topic": "miami-talks", "at": "2025-12-22T00:00:00Z"}).json()
        assert {p["party"]: (p["stance"], p["claim"][:8]) for p in at_22nd["items"]} == by_22nd
        both = client.get("/v1/positions", params={"party": "united-states", "as_of": between.isoformat(),
                                                    "at": "2025-12-22T00:00:00Z"}).json()["items"]
        assert [(p["topic"], p["claim"][:8]) for p in both] == [("miami-talks", "32557f03")]
        before_any = client.get("/v1/positions", params={"as_of": "2000-01-01T00:00:00Z"}).json()["items"]
        assert before_any == []


def test_retracted_claim_drops_out_and_the_position_falls_back(http: Any, live: Any) -> None:
    first, _ = write(http, stance="negative", text="erste", stated_at="2025-12-20")
    second, _ = write(http, stance="positive", text="zweite", stated_at="2025-12-21")
    view = live.views["positions"]
    caught_up(live)
    assert view.positions(party="russia", topic="miami-talks")[0]["stance"] == "positive"
    http.post(f"/v1/claims/{second['id']}/retraction", json={"reason": "falsch zugeordnet"})
    caught_up(live)
    now = view.positions(party="russia", topic="miami-talks")[0]
    assert (now["stance"], str(now["claim"]), now["claims"]) == ("negative", first["id"], 1)
    history = http.get("/v1/positions/history", params={"party": "russia", "topic": "miami-talks"}).json()["items"]
    assert [(h["stance"], h["shift"]) for h in history] == [("negative", False)]


def test_history_marks_shifts_of_stance(http: Any, live: Any) -> None:
    for stance, day in (("negative", "19"), ("negative", "20"), ("positive", "21"), ("mixed", "22")):
        write(http, stance=stance, text=f"am {day}.", stated_at=f"2025-12-{day}")
    caught_up(live)
    items = http.get("/v1/positions/history", params={"party": "Kreml", "topic": "miami-talks"}).json()["items"]
    assert [(h["stance"], h["shift"]) for h in items] == [
        ("negative", False), ("negative", False), ("positive", True), ("mixed", True),
    ]


def test_merged_party_claims_count_for_the_survivor_from_then_on(http: Any, live: Any) -> None:
    http.post("/v1/parties", json={"id": "peskov-dup", "name": "D. Peskow", "kind": "person"})
    write(http, speaker="peskov-dup", about=None, stance="mixed", text="Duplikat")
    caught_up(live)
    assert live.views["positions"].positions(party="kremlin", topic="miami-talks") == []
    before_merge = live.views["positions"].positions(party="peskov-dup")[0]["updated_at"]
    time.sleep(0.01)
    http.post("/v1/parties/peskov-dup/merge", json={"into": "dmitry-peskov"})
    caught_up(live)
    assert live.views["positions"].positions(party="kremlin", topic="miami-talks")[0]["stance"] == "mixed"
    # As of before the merge: the duplicate held the position, the Kremlin none (but after it, it does).
    then = live.views["positions"].positions(party="peskov-dup", as_of=before_merge)
    assert [(p["party"], p["stance"], p["position"]) for p in then] == [("peskov-dup", "mixed", "Duplikat")]
    assert live.views["positions"].positions(party="kremlin", as_of=before_merge) == []
    now = datetime.now(UTC)
    assert [p["stance"] for p in live.views["positions"].positions(party="kremlin", as_of=now)] == ["mixed"]
    assert "peskov-dup" in live.views["parties"].members("dmitry-peskov")


def test_reports_in_json_csv_and_markdown(http: Any, live: Any) -> None:
    write(http)
    caught_up(live)
    as_json = http.get("/v1/reports/positions").json()["items"]
    csv = http.get("/v1/reports/positions", params={"format": "csv"})
    markdown = http.get("/v1/reports/positions", params={"format": "markdown"}).text
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0] == "party,topic,stance,position,speaker,stated_at,claims,claim"
    assert len(csv.text.splitlines()) == len(as_json) + 1 == len(markdown.splitlines()) - 1
    assert "| russia | miami-talks | negative |" in markdown


def test_rebuilt_views_equal_the_live_ones_row_for_row_even_under_concurrent_writes(http: Any, live: Any) -> None:
    for i in range(30):
        claim, _ = write(http, text=f"vorher {i}", stance=("negative", "positive")[i % 2])
        if i % 3 == 0:
            http.post(f"/v1/claims/{claim['id']}/corrections", json={"changes": {"stance": "mixed"}, "reason": "r"},
                      headers={"If-Match": '"1"'})
    caught_up(live)
    control = Control(live.app.recorder.datastore)
    for name in PROJECTIONS:
        control.request_rebuild(name)
    with ThreadPoolExecutor(4) as pool:  # writes go on while the rebuilds run
        list(pool.map(lambda i: write(http, text=f"währenddessen {i}"), range(40)))
    deadline = time.monotonic() + 30
    while any(r["state"] != "live" or r["rebuild_requested"] for r in http.get("/v1/projections").json()["items"]):
        assert time.monotonic() < deadline, http.get("/v1/projections").json()
        time.sleep(0.05)
    caught_up(live)
    rebuilt = {name: view_rows(live, name) for name in PROJECTIONS}
    texts = [c["text"] for c in live.views["claims"].list(limit=1000)[0]]
    assert len(texts) == 70 and sum(t.startswith("währenddessen") for t in texts) == 40
    # A second, independent rebuild from the log gives the same rows.
    for name in PROJECTIONS:
        control.request_rebuild(name)
    deadline = time.monotonic() + 30
    while any(r["state"] != "live" or r["rebuild_requested"] for r in http.get("/v1/projections").json()["items"]):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert {name: view_rows(live, name) for name in PROJECTIONS} == rebuilt


def test_a_failing_event_stops_only_its_projection_which_resumes_after_a_fix(
    http: Any, live: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from projections.topics import TopicsProjection

    caught_up(live)
    original = TopicsProjection.apply_batch

    def broken(self: Any, curs: Any, events: Any) -> None:
        if any(getattr(e, "title", None) == "Kaputt" for _, e in events):
            raise RuntimeError("cannot project this")
        original(self, curs, events)

    monkeypatch.setattr(TopicsProjection, "apply_batch", broken)
    bad = http.put("/v1/topics/broken", json={"title": "Kaputt"})
    _, after = write(http, text="danach")
    deadline = time.monotonic() + 10
    while True:
        states = {r["name"]: r for r in http.get("/v1/projections").json()["items"]}
        if states["topics"]["state"] == "stopped" and states["claims"]["position"] >= after:
            break
        assert time.monotonic() < deadline, states
        time.sleep(0.05)
    topics = states["topics"]
    assert topics["error"]["position"] == int(bad.headers["X-Event-Position"])
    # The client sees where and an error id; the detail (message, traceback, file paths) is in the log.
    shown = json.dumps(topics["error"])
    assert "cannot project this" not in shown and "Traceback" not in shown and ".py" not in shown
    error_id = topics["error"]["error_id"]
    assert error_id in topics["error"]["message"]
    assert any(error_id in r.getMessage() and "cannot project this" in r.getMessage() + (r.exc_text or str(r.exc_info))
               for r in caplog.records), "the log line carries the error id and the detail"
    assert topics["position"] == topics["error"]["position"] - 1
    assert states["claims"]["state"] == "live"

    monkeypatch.setattr(TopicsProjection, "apply_batch", original)  # the fix; a restart picks it up
    live.runner.stop()
    live.run_projections()
    caught_up(live)
    assert "broken" in [t["id"] for t in http.get("/v1/topics").json()["items"]]


def test_two_runners_on_one_database_apply_each_projection_once(live: Any, settings: Any) -> None:
    from api.bootstrap import bootstrap

    other = bootstrap(settings)
    try:
        second = other.run_projections()
        deadline = time.monotonic() + 10  # each of its workers tries the lock, finds it held, stands by
        while {w.state for w in second.workers.values()} != {"standby"}:
            assert time.monotonic() < deadline, {n: w.state for n, w in second.workers.items()}
            time.sleep(0.02)
        assert {w.state for w in live.runner.workers.values()} == {"live"}
        live.app.register_party("someone", "Someone", "person", None, [], meta())
        caught_up(live)
        assert {w.state for w in second.workers.values()} == {"standby"}  # still: it applied nothing
        live.runner.stop()  # the active one goes away: the standby takes over
        live.app.register_party("someone-else", "Someone Else", "person", None, [], meta())
        deadline = time.monotonic() + 10
        while other.views["parties"].get("someone-else") is None:
            assert time.monotonic() < deadline, {n: w.state for n, w in second.workers.items()}
            time.sleep(0.05)
        assert {w.state for w in second.workers.values()} == {"live"}
    finally:
        other.close()
