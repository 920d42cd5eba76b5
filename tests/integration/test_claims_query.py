"""Claims lists by party, speaker, stated_at window and text page through exactly the claims they should.

The view answers these through different query shapes (a party's members walked one by one on the
speaker index, co-signed claims looked up apart; a stated_at window looked for among the newest
positions first, then on the indexes; so is a text search): each must give what a plain filter
over every claim gives.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

import projections.claims
from api.app import create_app
from tests.integration.conftest import PARTIES, caught_up, claim_body

# Who counts for whom among the test parties: Peskov -> Kremlin -> Russia; Dmitriev -> Russia.
RUSSIA = {"russia", "kremlin", "dmitry-peskov", "kirill-dmitriev", "peskov-dup"}


@pytest.fixture
def http(live: Any) -> Any:
    with TestClient(create_app(services=live)) as client:
        for party in PARTIES:
            assert client.post("/v1/parties", json=party).status_code == 201
        duplicate = {"id": "peskov-dup", "name": "D. S. Peskow", "kind": "person"}
        assert client.post("/v1/parties", json=duplicate).status_code == 201
        yield client


def _record(http: Any) -> None:
    """Claims by members of Russia and others, some co-signed, over a few days; a duplicate merged after."""
    speakers = [
        ("dmitry-peskov", []), ("ukraine", []), ("kirill-dmitriev", []), ("ukraine", ["kremlin"]),
        ("bbc", ["ukraine"]), ("russia", []), ("peskov-dup", []), ("ukraine", ["bbc", "kirill-dmitriev"]),
    ]
    for i in range(40):
        speaker, co = speakers[i % len(speakers)]
        text = f"Aussage {i}" + (" über den Waffenstillstand" if i % 4 == 0 else "")
        body = claim_body(speaker=speaker, co_speakers=co, about=None, text=text,
                          stated_at=f"2025-12-{10 + i // 3:02d}")
        assert http.post("/v1/claims", json=body).status_code == 201, i
    assert http.post("/v1/parties/peskov-dup/merge", json={"into": "dmitry-peskov"}).status_code == 200


def _pages(http: Any, **params: Any) -> list[str]:
    """Every claim a filter lists, following next_cursor through pages of 3."""
    texts: list[str] = []
    cursor = None
    while True:
        page = http.get("/v1/claims", params={**params, "limit": 3, **({"cursor": cursor} if cursor else {})}).json()
        texts += [c["text"] for c in page["items"]]
        if not (cursor := page["next_cursor"]):
            return texts


def _expected(everything: list[dict[str, Any]], members: set[str], since: str = "", until: str = "~") -> list[str]:
    return [c["text"] for c in everything
            if members & {c["speaker"], *c["co_speakers"]} and since <= c["stated_at"] <= until]


@pytest.mark.parametrize("recent", [5_000, 3])  # the window (or words) found among the newest positions, or further back
def test_party_speaker_and_window_lists_page_through_exactly_their_claims(
    http: Any, live: Any, recent: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(projections.claims, "RECENT", recent)
    monkeypatch.setattr(projections.claims, "WALK", recent)
    monkeypatch.setattr(projections.claims, "SEARCHED", recent)  # a text search: its page among the newest, or not
    _record(http)
    caught_up(live)
    everything = http.get("/v1/claims", params={"limit": 1000}).json()["items"]  # newest first
    assert len(everything) == 40

    assert _pages(http, party="russia") == _expected(everything, RUSSIA)
    assert _pages(http, party="dmitry-peskov") == _expected(everything, {"dmitry-peskov", "peskov-dup"})
    assert _pages(http, speaker="kirill-dmitriev") == _expected(everything, {"kirill-dmitriev"})
    assert _pages(http, speaker="bbc") == _expected(everything, {"bbc"})  # mostly co-signed
    for since, until in (("2025-12-10", "2025-12-12"), ("2025-12-15", "2025-12-30"), ("2025-12-20", "2025-12-23")):
        window = {"stated_from": since, "stated_to": until}
        assert _pages(http, party="russia", **window) == _expected(everything, RUSSIA, since, until)
        assert _pages(http, **window) == _expected(everything, {p["id"] for p in PARTIES} | RUSSIA, since, until)
    truce = [c["text"] for c in everything if "Waffenstillstand" in c["text"]]
    assert _pages(http, q="Waffenstillstand") == truce and len(truce) == 10  # a word of some claims
    assert _pages(http, q="Aussage") == [c["text"] for c in everything]  # a word of every claim
    assert _pages(http, q="Waffenstillstand", party="russia") == [t for t in _expected(everything, RUSSIA) if t in truce]
    assert _pages(http, q="Friedensvertrag") == []
    retracted = everything[5]["id"]
    assert http.post(f"/v1/claims/{retracted}/retraction", json={"reason": "falsch"}).status_code == 200
    caught_up(live)
    assert _pages(http, party="russia", status="retracted") == (
        [everything[5]["text"]] if RUSSIA & {everything[5]["speaker"], *everything[5]["co_speakers"]} else []
    )
