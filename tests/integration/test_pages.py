"""The desk's pages over HTTP (no browser): same views as the API, forms CSRF-protected, closed where the API is."""

from __future__ import annotations

import csv
import html
import io
import re
import time
from collections import Counter
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from domain.claim import RATINGS
from tests.integration.conftest import caught_up, claim_body
from tests.integration.test_persistence import load

PESKOV = "0bb01c90-e878-4d61-9a84-aa4b16d42ffb"


@pytest.fixture
def desk(live: Any) -> Any:
    """A client on the example data, every view caught up."""
    load(live)
    caught_up(live)
    with TestClient(create_app(services=live)) as client:
        yield client


def csrf(client: Any, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


PAGES = ["/", "/?kind=state&at=2025-12-22", "/topics/miami-talks", "/parties/russia", f"/claims/{PESKOV}",
         f"/claims/{PESKOV}?version=1", "/claims", "/claims?party=russia", "/audit", "/record", "/parties/new",
         f"/claims/{PESKOV}/correct", f"/claims/{PESKOV}/dispute", "/parties/kremlin/merge", "/sign-in"]


def test_every_page_answers_html_on_the_example_data(desk: Any) -> None:
    for path in PAGES:
        page = desk.get(path)
        assert page.status_code == 200, (path, page.text[:500])
        assert page.headers["content-type"].startswith("text/html"), path
        assert "<h1>" in page.text, path


def test_the_board_shows_what_get_positions_answers(desk: Any) -> None:
    positions = desk.get("/v1/positions").json()["items"]
    board = desk.get("/").text
    for p in positions:
        assert f'href="/claims/{p["claim"]}"' in board
    assert board.count('class="cell stance stance-') == len(positions)


def test_a_board_page_past_the_last_says_so_and_a_bad_page_number_is_422(desk: Any) -> None:
    past = desk.get("/", params={"page": "7"})
    assert past.status_code == 200 and "The board has 1 page of parties, not 7" in past.text
    bad = desk.get("/", params={"page": "0"})
    assert bad.status_code == 422 and 'id="q-page-error"' in bad.text and "a page number" in bad.text


def test_a_long_topic_shows_its_latest_claims_and_pages_back_through_the_earlier(desk: Any, live: Any) -> None:
    said = [f"2025-11-{day:02}T{hour:02}:00:00Z" for day in range(1, 29) for hour in range(8, 13)][:130]
    batch = [claim_body(topic="kyiv-drone-strike", stated_at=at, text=f"Aussage Nummer {n}.") for n, at in enumerate(said)]
    assert desk.post("/v1/claims/batch", json=batch).status_code == 201
    caught_up(live)
    everything = [c["id"] for c in desk.get("/v1/topics/kyiv-drone-strike/timeline", params={"limit": 1000}).json()["items"]]
    assert len(everything) > 130

    def shown(page: str) -> list[str]:
        return re.findall(r'<li class="claim-item[^"]*">.*?href="/claims/([0-9a-f-]{36})"', page, re.S)

    latest = desk.get("/topics/kyiv-drone-strike").text
    assert shown(latest) == everything[-100:]  # the latest hundred, in the order stated
    earlier = desk.get(html.unescape(re.search(r'href="([^"]+)" rel="prev"', latest).group(1))).text
    assert shown(earlier) == everything[:-100] and 'rel="prev"' not in earlier  # the rest, and no further back
    assert 'href="/topics/kyiv-drone-strike">The latest claims' in earlier
    bad = desk.get("/topics/kyiv-drone-strike", params={"before": "not-a-link"})
    assert bad.status_code == 422 and "before" in bad.text


def test_a_claims_page_lists_the_claims_it_superseded_and_the_one_that_superseded_it(desk: Any, live: Any) -> None:
    older = [desk.post("/v1/claims", json=claim_body(text=f"Alte Aussage {n}.")).json()["id"] for n in range(2)]
    newer = desk.post("/v1/claims", json=claim_body(topic="kyiv-drone-strike", text="Neue Aussage.")).json()["id"]
    for claim in older:
        answer = desk.post(f"/v1/claims/{claim}/supersession", json={"by_claim": newer, "reason": "replaced"})
        assert answer.status_code == 200, answer.text
    caught_up(live)
    page = desk.get(f"/claims/{newer}").text
    assert page.count("superseded by this claim") == 2 and all(f'href="/claims/{c}"' in page for c in older)
    assert f'href="/claims/{newer}"' in desk.get(f"/claims/{older[0]}").text
    assert "superseded by this claim" not in desk.get(f"/claims/{older[0]}").text


def test_unknown_things_are_404_pages(desk: Any) -> None:
    for path in ("/claims/00000000-0000-4000-8000-000000000000", "/topics/no-such-topic", "/parties/nobody"):
        page = desk.get(path)
        assert page.status_code == 404, path
        assert page.headers["content-type"].startswith("text/html")


def test_bad_filters_are_shown_beside_their_field(desk: Any) -> None:
    page = desk.get("/claims?status=lost&topic=Not+A+Slug")
    assert page.status_code == 422
    assert 'id="q-status-error"' in page.text and 'id="q-topic-error"' in page.text
    board = desk.get("/?at=22.12.2025")
    assert board.status_code == 422 and 'id="q-at-error"' in board.text
    board = desk.get("/?topic=no-such-topic")
    assert board.status_code == 422 and 'id="q-topic-error"' in board.text and "no-such-topic" in board.text


def test_search_facets_count_the_matching_claims(desk: Any) -> None:
    items = desk.get("/v1/claims", params={"party": "russia"}).json()["items"]
    page = desk.get("/claims", params={"party": "russia"}).text
    for topic, n in Counter(c["topic"] for c in items).items():
        assert re.search(rf'topic={topic}">{topic}</a> <span class="count">{n}</span>', page), topic
    assert page.count('<li class="claim-') == len(items)


def test_search_pages_by_cursor_and_exports_the_same_list(desk: Any) -> None:
    api = desk.get("/v1/claims", params={"limit": 5}).json()
    first = desk.get("/claims", params={"limit": 5}).text
    cursor = re.search(r'href="/claims\?limit=5&amp;cursor=([^"]+)" rel="next"', first).group(1)
    assert cursor == api["next_cursor"]
    exported = list(csv.DictReader(io.StringIO(desk.get("/claims.csv", params={"limit": 5}).text)))
    assert [row["id"] for row in exported] == [c["id"] for c in api["items"]]
    assert desk.get("/claims.json", params={"limit": 5}).json() == api
    for export in ("/claims.json", "/claims.csv"):  # a program's URL: its errors are problem+json, not a page
        refused = desk.get(export, params={"party": "nobody-at-all"})
        assert refused.status_code == 422 and refused.headers["content-type"].startswith("application/problem+json")
        assert "party" in {e["field"] for e in refused.json()["errors"]}, refused.text


def test_a_form_without_its_csrf_token_records_nothing(desk: Any) -> None:
    before = desk.get("/v1/parties").json()["items"]
    refused = desk.post("/parties/new", data={"id": "sergey-lavrov", "name": "Sergey Lavrov", "kind": "person"})
    assert refused.status_code == 403 and "CSRF" in refused.text
    forged = desk.post("/parties/new", data={"id": "sergey-lavrov", "name": "Sergey Lavrov", "kind": "person",
                                              "csrf": "guessed"})
    assert forged.status_code == 403
    assert desk.get("/v1/parties").json()["items"] == before


def test_a_form_records_through_the_same_use_case_and_redirects_to_the_result(desk: Any) -> None:
    token = csrf(desk, "/parties/new")
    done = desk.post("/parties/new", data={"id": "sergey-lavrov", "name": "Sergey Lavrov", "kind": "person",
                                           "affiliation": "Kreml", "aliases": "Lawrow", "csrf": token},
                     follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/parties/sergey-lavrov?done=registered"
    assert int(done.cookies["claims_seen"]) > 0  # the next reads wait for this write
    party = desk.get("/v1/parties/sergey-lavrov").json()
    assert (party["affiliation"], party["aliases"]) == ("kremlin", ["Lawrow"])
    again = desk.post("/parties/new", data={"id": "sergey-lavrov", "name": "Sergey Lavrov", "kind": "person",
                                            "csrf": token})
    assert again.status_code == 409 and 'id="f-id-error"' in again.text


def test_a_stale_correction_shows_the_new_version_and_overwrites_nothing(desk: Any) -> None:
    token = csrf(desk, f"/claims/{PESKOV}/correct")
    form = {"csrf": token, "version": "1", "speaker": "dmitry-peskov", "topic": "miami-talks", "kind": "statement",
            "text": "x", "language": "de", "stance": "mixed", "stated_at": "2025-12-21",
            "source.url": "https://example.org/a", "reason": "stale"}
    desk.post(f"/v1/claims/{PESKOV}/corroborations", json={"by": "bbc"})  # another desk, meanwhile
    stale = desk.post(f"/claims/{PESKOV}/correct", data=form)
    assert stale.status_code == 412
    assert "Changed meanwhile" in stale.text and 'name="version" value="2"' in stale.text
    assert stale.text.count("Changed meanwhile") == 1  # said once, then what changed
    assert desk.get(f"/v1/claims/{PESKOV}").json()["stance"] == "negative"


def test_an_unknown_speaker_offers_the_candidates_beside_the_field(desk: Any) -> None:
    token = csrf(desk, "/record")
    form = {"csrf": token, "speaker": "Peskof", "topic": "miami-talks", "kind": "statement", "text": "t",
            "language": "de", "stance": "negative", "stated_at": "2025-12-22", "source.url": "https://example.org/a"}
    page = desk.post("/record", data=form)
    assert page.status_code == 422
    assert 'id="f-speaker-error"' in page.text and 'name="pick.speaker" value="dmitry-peskov"' in page.text
    assert "Did you mean one of these for “Peskof”?" in page.text
    picked = desk.post("/record", data={**form, "pick.speaker": "dmitry-peskov"}, follow_redirects=False)
    assert picked.status_code == 303
    claim_id = picked.headers["location"].split("/")[2].split("?")[0]
    assert desk.get(f"/v1/claims/{claim_id}").json()["speaker"] == "dmitry-peskov"


def test_a_speaker_like_no_party_offers_to_register_it_under_that_name(desk: Any) -> None:
    token = csrf(desk, "/record")
    form = {"csrf": token, "speaker": "Zbigniew Qwertyuiop", "topic": "miami-talks", "kind": "statement",
            "text": "t", "language": "de", "stance": "negative", "stated_at": "2025-12-22",
            "source.url": "https://example.org/a"}
    page = desk.post("/record", data=form)
    assert page.status_code == 422 and 'id="f-speaker-error"' in page.text
    assert 'name="pick.speaker"' not in page.text
    assert '<a href="/parties/new?name=Zbigniew%20Qwertyuiop">Register it</a>' in page.text
    register = desk.get("/parties/new", params={"name": "Zbigniew Qwertyuiop"})
    assert register.status_code == 200 and 'name="name" type="text" value="Zbigniew Qwertyuiop"' in register.text


def test_a_review_shows_on_the_claim_page_with_its_reviewer_rating_note_and_sources(desk: Any) -> None:
    reviewed = desk.post(f"/v1/claims/{PESKOV}/reviews", json={
        "by": "BBC", "rating": "mostly-false", "note": "The delegation's statement says he took part.",
        "sources": ["https://example.org/seeds/2025-12-23-miami-talks-continue"]})
    assert reviewed.status_code == 201, reviewed.text
    page = desk.get(f"/claims/{PESKOV}").text
    verdicts = page[page.index('id="verdicts-title"'):page.index('id="attest-title"')]
    assert re.search(r'<a href="/parties/bbc">[^<]+</a> rated it <span class="rating rating-bad">'
                     r'<span aria-hidden="true">✗</span> mostly false</span>: The delegation&#39;s statement', verdicts)
    assert '<a href="https://example.org/seeds/2025-12-23-miami-talks-continue"' in verdicts
    assert "recorded 20" in verdicts
    history = page[page.index('id="history-title"'):]
    assert re.search(r"reviewed by [^<]+ as mostly false: The delegation&#39;s statement says he took part\.", history)


def test_the_review_form_records_a_verdict_and_refuses_a_bad_rating_beside_the_field(desk: Any) -> None:
    form_page = desk.get(f"/claims/{PESKOV}/review").text
    assert f'href="/claims/{PESKOV}/review"' in desk.get(f"/claims/{PESKOV}").text
    assert all(f'<option value="{r}"' in form_page for r in RATINGS)
    assert 'list="f-by-options"' in form_page  # the reviewer is suggested as typed, like other party fields
    form = {"csrf": csrf(desk, f"/claims/{PESKOV}/review"), "by": "BBC", "rating": "wrong-ish",
            "sources": "https://example.org/a\nnot a url"}
    refused = desk.post(f"/claims/{PESKOV}/review", data=form)
    assert refused.status_code == 422
    assert 'id="f-rating-error"' in refused.text and 'id="f-sources-error"' in refused.text
    assert "URL 2: must be an absolute http(s) URL" in refused.text
    assert desk.get(f"/v1/claims/{PESKOV}").json()["reviews"] == []
    done = desk.post(f"/claims/{PESKOV}/review", follow_redirects=False, data={
        **form, "rating": "unverifiable", "note": "no minutes", "sources": "https://example.org/a\n\n"})
    assert done.status_code == 303 and done.headers["location"] == f"/claims/{PESKOV}?done=reviewed"
    [review] = desk.get(f"/v1/claims/{PESKOV}").json()["reviews"]
    assert (review["by"], review["rating"], review["note"], review["sources"]) == (
        "bbc", "unverifiable", "no minutes", ["https://example.org/a"])
    assert "unverifiable</span>: no minutes" in desk.get(done.headers["location"]).text


def test_a_retracted_claims_page_offers_a_review_and_nothing_the_domain_refuses(desk: Any) -> None:
    retracted = desk.post(f"/v1/claims/{PESKOV}/retraction", json={"reason": "misattributed"})
    assert retracted.status_code == 200, retracted.text
    page = desk.get(f"/claims/{PESKOV}").text
    for refused in ("correct", "corroborate", "dispute", "retract", "supersede"):
        assert f'href="/claims/{PESKOV}/{refused}"' not in page, refused
    assert f'href="/claims/{PESKOV}/review"' in page
    done = desk.post(f"/claims/{PESKOV}/review", follow_redirects=False, data={
        "csrf": csrf(desk, f"/claims/{PESKOV}/review"), "by": "bbc", "rating": "false"})
    assert done.status_code == 303, done.text
    assert desk.get(f"/v1/claims/{PESKOV}").json()["reviews"][0]["rating"] == "false"


def test_suggestions_come_from_the_resolve_endpoint(desk: Any) -> None:
    options = desk.get("/suggest", params={"speaker": "Dmitrijev"}).text
    assert 'value="kirill-dmitriev"' in options


def test_co_speakers_are_suggested_for_the_name_being_typed_keeping_those_before_it(desk: Any) -> None:
    form_page = desk.get("/record").text
    assert 'list="f-co-speakers-options"' in form_page
    options = desk.get("/suggest", params={"co_speakers": "rustem-umerov, Witkof"}).text
    assert 'value="rustem-umerov, steve-witkoff"' in options
    values = re.findall(r'<option value="([^"]*)"', options)
    assert values and all(v.startswith("rustem-umerov, ") for v in values)  # the names before it kept as typed


def test_pages_are_closed_where_the_api_is_and_open_after_sign_in(desk: Any, live: Any) -> None:
    _, token = live.keys.create("desk-1", "writer")
    time.sleep(1.1)  # keys are read at most once a second
    desk.cookies.clear()
    assert desk.get("/", follow_redirects=False).headers["location"] == "/sign-in?next=%2F"
    assert desk.get("/v1/positions").status_code == 401
    signed = desk.post("/sign-in", data={"csrf": csrf(desk, "/sign-in"), "token": token, "next": "/audit"},
                       follow_redirects=False)
    assert signed.status_code == 303 and signed.headers["location"] == "/audit"
    cookie = signed.headers["set-cookie"]
    assert "claims_token=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert desk.get("/audit").status_code == 200
    assert desk.get("/v1/positions").status_code == 401  # the cookie is the pages', not the API's
    assert desk.post("/sign-in", data={"csrf": csrf(desk, "/sign-in"), "token": token, "next": "//evil.example"},
                     follow_redirects=False).headers["location"] == "/"


def test_docs_are_served_from_our_own_files(desk: Any) -> None:
    docs = desk.get("/docs").text
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    assert desk.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
    assert desk.get("/redoc").status_code == 404
    assert desk.get("/openapi.json").json()["paths"].get("/") is None  # pages are not part of the API


def test_the_party_page_marks_the_shifts_get_positions_history_marks(desk: Any) -> None:
    for party in ("ukraine", "russia", "united-states"):
        topics = {p["topic"] for p in desk.get("/v1/positions", params={"party": party}).json()["items"]}
        shifts = sum(c["shift"] for t in topics
                     for c in desk.get("/v1/positions/history", params={"party": party, "topic": t}).json()["items"])
        changes = sum(len(desk.get("/v1/positions/history", params={"party": party, "topic": t}).json()["items"])
                      for t in topics)
        page = desk.get(f"/parties/{party}").text
        assert page.count("⇄ shift</strong>") == shifts, party
        assert page.count('<tr class="shift">') + page.count("<tr><td>") >= changes
    assert "⇄ shift</strong>" in desk.get("/parties/ukraine").text  # Zelensky: positive → neutral → positive


def test_the_board_marks_a_position_whose_latest_change_shifted_its_stance(desk: Any, live: Any) -> None:
    assert "⇄ shift" not in desk.get("/?topic=miami-talks").text  # Russia's claims on it are all negative
    corrected = desk.post(f"/v1/claims/{PESKOV}/corrections", headers={"If-Match": '"1"'},
                          json={"changes": {"stance": "positive", "stated_at": "2025-12-22"}, "reason": "test"})
    assert corrected.status_code == 200, corrected.text
    caught_up(live)
    board = desk.get("/?topic=miami-talks").text
    russia = board[board.index('href="/parties/russia"'):].split("</tr>")[0]
    assert "⇄ shift from negative" in russia and "▲" in russia
    before = desk.get("/?topic=miami-talks&at=2025-12-21").text  # said by the 21st: no shift yet
    assert "⇄ shift" not in before[before.index('href="/parties/russia"'):].split("</tr>")[0]


def test_a_rebuild_from_the_audit_page_needs_an_admin(desk: Any, live: Any) -> None:
    from projections.control import Control

    token = csrf(desk, "/audit")
    assert 'action="/audit/rebuild/claims"' in desk.get("/audit").text  # open server: anyone local may
    done = desk.post("/audit/rebuild/claims", data={"csrf": token}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/audit?rebuild=claims"
    assert Control(live.app.recorder.datastore).rows()["claims"]["rebuild_requested"]

    _, writer = live.keys.create("desk-1", "writer")
    time.sleep(1.1)
    desk.post("/sign-in", data={"csrf": token, "token": writer, "next": "/audit"})
    page = desk.get("/audit").text
    assert "Signed in as <strong>desk-1</strong>" in page and 'action="/audit/rebuild/' not in page
    refused = desk.post("/audit/rebuild/positions", data={"csrf": token})
    assert refused.status_code == 403 and "needs role admin" in refused.text
    assert not Control(live.app.recorder.datastore).rows().get("positions", {}).get("rebuild_requested")


def test_the_boards_json_link_asks_the_api_for_what_the_board_shows(desk: Any) -> None:
    board = desk.get("/", params={"topic": "miami-talks", "at": "2025-12-21"}).text
    link = re.search(r'JSON: <a href="([^"]+)"', board).group(1).replace("&amp;", "&")
    answer = desk.get(link)
    assert answer.status_code == 200, link
    items = answer.json()["items"]
    assert items and all(f'href="/claims/{p["claim"]}"' in board for p in items)
    assert board.count('class="cell stance stance-') == len(items)
