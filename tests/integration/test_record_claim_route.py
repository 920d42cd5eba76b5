"""POST /v1/claims's own route (RecordClaimRoute): a well-formed claim past the dependency solving,
everything else through the framework, with the same answers either way."""

from __future__ import annotations

import json
from typing import Any

from tests.integration.conftest import claim_body


def test_a_well_formed_claim_is_answered_as_the_response_model_says(api: Any) -> None:
    created = api.post("/v1/claims", json=claim_body(text="Eine Aussage"))
    assert created.status_code == 201
    assert created.headers["content-type"] == "application/json"
    assert created.headers["ETag"] == '"1"'
    assert created.headers["Location"] == f"/v1/claims/{created.json()['id']}"
    assert int(created.headers["X-Event-Position"]) > 0
    assert created.headers["X-Request-ID"]
    assert created.json() == api.get(created.headers["Location"]).json()


def test_a_nul_in_the_query_of_a_well_formed_claim_is_refused_naming_it(api: Any) -> None:
    refused = api.post("/v1/claims?note=a%00b", json=claim_body())
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "note"


def test_bodies_that_are_not_a_claim_get_the_frameworks_422(api: Any) -> None:
    bad_json = api.post("/v1/claims", content=b'{"speaker": ', headers={"content-type": "application/json"})
    assert bad_json.status_code == 422
    assert bad_json.headers["content-type"] == "application/problem+json"
    as_text = api.post("/v1/claims", content=json.dumps(claim_body()).encode(), headers={"content-type": "text/plain"})
    assert as_text.status_code == 422
    missing = api.post("/v1/claims", json={k: v for k, v in claim_body().items() if k != "text"})
    assert missing.status_code == 422
    assert [e["field"] for e in missing.json()["errors"]] == ["text"]
