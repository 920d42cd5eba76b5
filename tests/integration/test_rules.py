"""Rules a careless or hostile write must not break (issue 9, class 4), over HTTP on a real PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.integration.conftest import PARTIES, claim_body

MORE = [
    {"id": "rustem-umerov", "name": "Rustem Umerov", "kind": "person", "affiliation": "ukraine", "aliases": ["Umerow"]},
    {"id": "steve-witkoff", "name": "Steve Witkoff", "kind": "person"},
]


@pytest.fixture
def http(live: Any) -> Any:
    with TestClient(create_app(services=live)) as client:
        for party in PARTIES + MORE:
            assert client.post("/v1/parties", json=party).status_code == 201
        yield client


def write(http: Any, **overrides: Any) -> dict[str, Any]:
    response = http.post("/v1/claims", json=claim_body(**overrides))
    assert response.status_code == 201, response.text
    return response.json()


def fields(response: Any) -> dict[str, str]:
    assert response.headers["content-type"] == "application/problem+json", response.text
    return {e["field"]: e["reason"] for e in response.json()["errors"]}


def test_a_supersession_cycle_is_refused_and_the_position_stays(http: Any) -> None:
    a, b = write(http, text="alt", stated_at="2025-12-20"), write(http, text="neu", stated_at="2025-12-21")
    first = http.post(f"/v1/claims/{a['id']}/supersession", json={"by_claim": b["id"]})
    assert first.status_code == 200
    back = http.post(f"/v1/claims/{b['id']}/supersession", json={"by_claim": a["id"], "reason": "circular"})
    assert back.status_code == 422 and "cycle" in fields(back)["by_claim"]
    claim = http.get(f"/v1/claims/{b['id']}").json()
    assert (claim["status"], claim["version"]) == ("active", 1)
    positions = http.get("/v1/positions", params={"party": "russia", "topic": "miami-talks"},
                         headers={"X-Min-Position": first.headers["X-Event-Position"]}).json()["items"]
    assert [(p["claim"], p["position"]) for p in positions] == [(b["id"], "neu")]


def test_merging_a_party_into_its_own_affiliate_is_refused_like_the_patch(http: Any) -> None:
    merge = http.post("/v1/parties/kremlin/merge", json={"into": "dmitry-peskov"})
    assert merge.status_code == 422 and "its own affiliate" in fields(merge)["into"]
    patch = http.patch("/v1/parties/kremlin", json={"affiliation": "dmitry-peskov", "reason": "r"})
    assert patch.status_code == 422 and "cycle" in fields(patch)["affiliation"]
    assert http.get("/v1/parties/kremlin").json()["merged_into"] is None
    assert http.get("/v1/parties/dmitry-peskov").json()["affiliation"] == "kremlin"


def test_speaker_as_its_own_co_speaker_or_a_repeat_is_refused(http: Any) -> None:
    own = http.post("/v1/claims", json=claim_body(speaker="rustem-umerov", co_speakers=["Steve Witkoff", "Umerow"]))
    assert own.status_code == 422 and "the speaker" in fields(own)["co_speakers[1]"]
    twice = http.post("/v1/claims", json=claim_body(speaker="rustem-umerov", co_speakers=["steve-witkoff"] * 2))
    assert twice.status_code == 422 and set(fields(twice)) == {"co_speakers[1]"}
    batch = http.post("/v1/claims/batch", json=[claim_body(), claim_body(co_speakers=["Peskow"])])
    assert batch.status_code == 422
    assert [(e["index"], e["field"]) for e in batch.json()["errors"]] == [(1, "co_speakers[0]")]
    joint = write(http, speaker="rustem-umerov", co_speakers=["Steve Witkoff"])
    correction = http.post(f"/v1/claims/{joint['id']}/corrections", headers={"If-Match": '"1"'},
                           json={"changes": {"co_speakers": ["steve-witkoff", "rustem-umerov"]}, "reason": "r"})
    assert correction.status_code == 422 and set(fields(correction)) == {"changes.co_speakers[1]"}
    correction = http.post(f"/v1/claims/{joint['id']}/corrections", headers={"If-Match": '"1"'},
                           json={"changes": {"speaker": "Steve Witkoff"}, "reason": "r"})
    assert correction.status_code == 422 and set(fields(correction)) == {"changes.speaker"}
    assert http.get(f"/v1/claims/{joint['id']}").json()["version"] == 1


def test_aliases_that_normalise_equal_are_stored_once(http: Any) -> None:
    registered = http.post("/v1/parties", json={"id": "sergey-lavrov", "name": "Sergey Lavrov", "kind": "person",
                                                "aliases": ["Lawrow", "lawrow", "LAWROW", "Лавров", "Lavrov"]})
    assert registered.status_code == 201, registered.text
    assert registered.json()["aliases"] == ["Lawrow", "Лавров"]
    assert http.get("/v1/parties/sergey-lavrov").json()["aliases"] == ["Lawrow", "Лавров"]
    again = http.post("/v1/parties/sergey-lavrov/aliases", json={"alias": "Lávrov"})
    assert again.status_code == 409 and "this party" in again.json()["detail"]
    respelt = http.patch("/v1/parties/sergey-lavrov", json={"name": "Sergey LAVROV", "reason": "case"})
    assert respelt.status_code == 200 and respelt.json()["aliases"] == ["Lawrow", "Лавров"]
    promoted = http.patch("/v1/parties/sergey-lavrov", json={"name": "Lawrow", "reason": "r"})
    assert promoted.status_code == 409
    read = {"X-Min-Position": respelt.headers["X-Event-Position"]}
    resolved = http.get("/v1/parties/resolve", params={"name": "lawrow"}, headers=read).json()["candidates"]
    assert resolved[0]["party"] == "sergey-lavrov"
