"""Parties and topics over HTTP, on a real PostgreSQL."""

from __future__ import annotations

from typing import Any


def test_registered_party_is_found_with_its_aliases(api: Any) -> None:
    party = api.get("/v1/parties/kirill-dmitriev")
    assert party.status_code == 200
    assert party.json()["aliases"] == ["Dmitrijew", "Dmitriew"] and party.json()["merged_into"] is None
    assert api.get("/v1/parties/nobody").status_code == 404


def test_taken_id_or_alias_is_a_conflict(api: Any) -> None:
    assert api.post("/v1/parties", json={"id": "russia", "name": "RF", "kind": "state"}).status_code == 409
    taken = api.post("/v1/parties", json={"id": "x", "name": "X", "kind": "person", "aliases": ["DMITRIJEW"]})
    assert taken.status_code == 409 and taken.json()["party"] == "kirill-dmitriev"
    assert api.post("/v1/parties/ukraine/aliases", json={"alias": "Kreml"}).status_code == 409


def test_unknown_affiliation_or_bad_fields_are_422(api: Any) -> None:
    response = api.post("/v1/parties", json={"id": "lavrov", "name": "Lavrov", "kind": "person", "affiliation": "mfa"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "affiliation"
    response = api.post("/v1/parties", json={"id": "Bad Id", "name": "", "kind": "alien"})
    assert {e["field"] for e in response.json()["errors"]} == {"id", "name", "kind"}


def test_alias_then_merge_moves_names_to_the_survivor(api: Any) -> None:
    assert api.post("/v1/parties/kirill-dmitriev/aliases", json={"alias": "Дмитриев"}).status_code == 201
    api.post("/v1/parties", json={"id": "k-dmitriev", "name": "K. Dmitriev", "kind": "person", "aliases": ["Dmitrijev"]})
    merged = api.post("/v1/parties/k-dmitriev/merge", json={"into": "kirill-dmitriev", "reason": "duplicate"})
    assert merged.status_code == 200 and merged.json()["merged_into"] == "kirill-dmitriev"
    assert api.post("/v1/parties/k-dmitriev/merge", json={"into": "russia"}).status_code == 409
    assert api.post("/v1/parties/russia/merge", json={"into": "russia"}).status_code == 422


def test_topic_put_sets_title_and_get_reads_it(api: Any) -> None:
    put = api.put("/v1/topics/miami-talks", json={"title": "Miami talks", "description": "Dec 2025"})
    assert put.status_code == 200 and put.json()["version"] == 1
    again = api.put("/v1/topics/miami-talks", json={"title": "Miami talks", "description": "Dec 2025"})
    assert again.json()["version"] == 1 and "X-Event-Position" not in again.headers
    api.put("/v1/topics/miami-talks", json={"title": "Talks in Miami"})
    assert api.get("/v1/topics/miami-talks").json()["title"] == "Talks in Miami"
    assert api.get("/v1/topics/nothing").status_code == 404


def test_health_and_readiness(api: Any) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").status_code == 200


def test_metrics_count_requests_by_route_and_show_projection_lag(api: Any) -> None:
    api.get("/v1/parties/russia")
    api.get("/v1/parties/nobody")
    text = api.get("/metrics").text
    assert 'claims_http_requests_total{method="GET",route="/v1/parties/{party_id}",status="200"} 1.0' in text
    assert 'claims_http_requests_total{method="GET",route="/v1/parties/{party_id}",status="404"} 1.0' in text
    assert 'claims_projection_lag_events{name="positions"}' in text
    assert "claims_log_head_position" in text
