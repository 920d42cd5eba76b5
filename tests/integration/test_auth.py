"""API keys and roles over HTTP: open with no key, 401 without a good token, 403 for a role too low."""

from __future__ import annotations

import time
from typing import Any

from adapters.keys import CACHE_SECONDS, KeyStore
from tests.integration.conftest import claim_body


def key(services: Any, name: str, role: str) -> dict[str, str]:
    """Make a key; answer the headers that send its token."""
    _, token = services.keys.create(name, role)
    return {"Authorization": f"Bearer {token}"}


def test_server_with_no_key_is_open_and_records_local(api: Any) -> None:
    created = api.post("/v1/claims", json=claim_body())
    assert created.status_code == 201, created.text
    history = api.get(f"/v1/claims/{created.json()['id']}/history").json()
    assert [event["recorded_by"] for event in history] == ["local"]
    assert api.post("/v1/projections/claims/rebuild").status_code == 202


def test_once_a_key_exists_a_request_without_token_is_401_with_a_bearer_challenge(api: Any, services: Any) -> None:
    key(services, "desk", "writer")
    for method, path in [("GET", "/v1/claims"), ("GET", "/v1/parties/russia"), ("GET", "/v1/positions"),
                         ("GET", "/v1/projections"), ("POST", "/v1/claims"), ("PUT", "/v1/topics/miami-talks")]:
        answer = api.request(method, path, json=claim_body() if method != "GET" else None)
        assert answer.status_code == 401, (method, path, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert answer.json()["type"] == "urn:claims:problem:unauthorized"


def test_health_metrics_and_docs_stay_open_when_keys_exist(api: Any, services: Any) -> None:
    key(services, "desk", "admin")
    for path in ("/healthz", "/readyz", "/docs", "/openapi.json"):
        assert api.get(path).status_code == 200, path


def test_unknown_token_or_another_scheme_is_401(api: Any, services: Any) -> None:
    key(services, "desk", "reader")
    bad = api.get("/v1/claims", headers={"Authorization": "Bearer clm_not-a-key"})
    assert bad.status_code == 401
    assert 'error="invalid_token"' in bad.headers["www-authenticate"]
    assert api.get("/v1/claims", headers={"Authorization": "Basic ZGVzazpzZWNyZXQ="}).status_code == 401


def test_reader_reads_but_cannot_write(api: Any, services: Any) -> None:
    reader = key(services, "analyst", "reader")
    assert api.get("/v1/claims", headers=reader).status_code == 200
    assert api.get("/v1/parties/russia", headers=reader).status_code == 200
    refused = api.post("/v1/claims", json=claim_body(), headers=reader)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["needed_role"] == "writer"
    assert api.put("/v1/topics/miami-talks", json={"title": "Miami"}, headers=reader).status_code == 403


def test_writer_records_and_the_history_names_its_key(api: Any, services: Any) -> None:
    writer = key(services, "desk-1", "writer")
    created = api.post("/v1/claims", json=claim_body(), headers=writer)
    assert created.status_code == 201, created.text
    claim_id = created.json()["id"]
    corrected = api.post(f"/v1/claims/{claim_id}/corrections", json={"changes": {"stance": "mixed"}, "reason": "r"},
                         headers={**writer, "If-Match": '"1"'})
    assert corrected.status_code == 200, corrected.text
    history = api.get(f"/v1/claims/{claim_id}/history", headers=writer).json()
    assert [event["recorded_by"] for event in history] == ["desk-1", "desk-1"]


def test_writer_cannot_rebuild_a_projection_but_admin_can(api: Any, services: Any) -> None:
    writer = key(services, "desk", "writer")
    admin = key(services, "ops", "admin")
    refused = api.post("/v1/projections/claims/rebuild", headers=writer)
    assert refused.status_code == 403
    assert refused.json()["needed_role"] == "admin"
    assert api.post("/v1/projections/claims/rebuild", headers=admin).status_code == 202
    assert api.post("/v1/claims", json=claim_body(), headers=admin).status_code == 201  # admin may write


def test_revoked_key_is_refused_within_the_cache_time(api: Any, services: Any) -> None:
    writer = key(services, "desk", "writer")
    key(services, "ops", "admin")  # another key stays, so the server does not fall open
    assert api.get("/v1/claims", headers=writer).status_code == 200
    # Revoked elsewhere (as `claims keys revoke` in another process): this server's snapshot expires.
    KeyStore(services.app.recorder.datastore).revoke("desk")
    revoked_at = time.monotonic()
    while api.get("/v1/claims", headers=writer).status_code != 401:
        assert time.monotonic() - revoked_at < CACHE_SECONDS + 2, "the revoked key still works"
        time.sleep(0.05)


def test_revoking_the_last_key_opens_a_loopback_server_again(api: Any, services: Any) -> None:
    key(services, "desk", "writer")
    assert api.get("/v1/claims").status_code == 401
    services.keys.revoke("desk")
    assert api.get("/v1/claims").status_code == 200


def test_server_bound_beyond_loopback_refuses_everything_when_no_key_is_left(api: Any, services: Any) -> None:
    services.keys.required = True  # as `claims serve --host 0.0.0.0` sets it
    answer = api.get("/v1/claims")
    assert answer.status_code == 401
    assert "claims keys create" in answer.json()["detail"]
    assert api.get("/healthz").status_code == 200
