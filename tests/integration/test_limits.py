"""Limits with clear errors: body size (413), batch size (413), text and fact length (422), unknown fields (422)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from adapters.settings import Settings
from api.app import create_app
from api.schemas.common import MAX_FACT, MAX_TEXT
from tests.integration.conftest import PARTIES, claim_body

SMALL = 4_096


@pytest.fixture
def small(services: Any) -> Iterator[TestClient]:
    """A client on an app that accepts request bodies of at most 4 KiB."""
    settings = services.settings.model_copy(update={"max_body_bytes": SMALL})
    with TestClient(create_app(settings=settings, services=services)) as client:
        for party in PARTIES:
            assert client.post("/v1/parties", json=party).status_code == 201
        yield client


def test_body_limit_defaults_to_16_mib_and_is_set_by_claims_max_body_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().max_body_bytes == 16 * 1024 * 1024
    monkeypatch.setenv("CLAIMS_MAX_BODY_BYTES", "1000")
    assert Settings().max_body_bytes == 1000


def test_body_larger_than_the_limit_is_413_problem(small: TestClient) -> None:
    body = orjson.dumps(claim_body(text="x" * SMALL))
    answer = small.post("/v1/claims", content=body, headers={"content-type": "application/json",
                                                              "X-Request-ID": "big-1"})
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["x-request-id"] == "big-1"
    problem = answer.json()
    assert problem["type"] == "urn:claims:problem:body-too-large"
    assert "4,096 bytes" in problem["detail"]
    assert small.post("/v1/claims", json=claim_body()).status_code == 201  # a body within the limit passes


def test_streamed_body_without_content_length_is_counted_and_refused(small: TestClient) -> None:
    items = orjson.dumps([claim_body(text=f"claim {i} " + "x" * 200) for i in range(50)])

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(items), 1_000):
            yield items[start:start + 1_000]

    answer = small.post("/v1/claims/batch", content=chunks(), headers={"content-type": "application/json"})
    assert answer.status_code == 413, answer.text
    assert answer.json()["type"] == "urn:claims:problem:body-too-large"
    assert small.get("/v1/claims").json()["items"] == []


def test_batch_of_more_than_10000_claims_is_413(api: Any) -> None:
    answer = api.post("/v1/claims/batch", json=[{}] * 10_001)
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"
    assert "at most 10000 claims" in answer.json()["detail"]


def test_text_longer_than_20000_characters_is_422(api: Any) -> None:
    answer = api.post("/v1/claims", json=claim_body(text="x" * (MAX_TEXT + 1)))
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["text"]
    assert api.post("/v1/claims", json=claim_body(text="x" * MAX_TEXT)).status_code == 201


def test_fact_text_longer_than_1000_characters_is_422(api: Any) -> None:
    answer = api.post("/v1/claims", json=claim_body(facts={"injured": 5, "place": "x" * (MAX_FACT + 1)}))
    assert answer.status_code == 422
    errors = answer.json()["errors"]
    assert [e["field"] for e in errors] == ["facts.place"]
    assert "at most 1,000 characters" in errors[0]["reason"]
    assert api.post("/v1/claims", json=claim_body(facts={"place": "x" * MAX_FACT})).status_code == 201
    too_many = {f"fact{i}": i for i in range(101)}
    assert api.post("/v1/claims", json=claim_body(facts=too_many)).status_code == 422


def test_unknown_fields_are_refused_not_dropped(api: Any) -> None:
    claim = api.post("/v1/claims", json=claim_body(speeker="Peskow"))
    assert claim.status_code == 422
    assert [e["field"] for e in claim.json()["errors"]] == ["speeker"]

    source = api.post("/v1/claims", json=claim_body(source={"url": "https://example.org/a", "outlett": "ORF"}))
    assert source.status_code == 422
    assert [e["field"] for e in source.json()["errors"]] == ["source.outlett"]

    party = api.post("/v1/parties", json={"id": "nato", "name": "NATO", "kind": "organization", "colour": "blue"})
    assert party.status_code == 422
    assert [e["field"] for e in party.json()["errors"]] == ["colour"]

    claim_id = api.post("/v1/claims", json=claim_body()).json()["id"]
    correction = api.post(f"/v1/claims/{claim_id}/corrections", headers={"If-Match": '"1"'},
                          json={"changes": {"stance": "mixed", "mood": "bad"}, "reason": "r"})
    assert correction.status_code == 422
    assert [e["field"] for e in correction.json()["errors"]] == ["changes.mood"]

    batch = api.post("/v1/claims/batch", json=[claim_body(), claim_body(extra=1)])
    assert batch.status_code == 422
    assert [(e["index"], e["field"]) for e in batch.json()["errors"]] == [(1, "extra")]
