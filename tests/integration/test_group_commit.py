"""Group commit over HTTP on a real PostgreSQL: concurrent POST /v1/claims share transactions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any

import psycopg
import pytest
from psycopg import sql

from adapters.settings import Settings
from api.bootstrap import Services, bootstrap
from tests.integration.conftest import PARTIES, claim_body

CLIENTS = 32


def post_concurrently(api: Any, bodies: list[dict[str, Any]]) -> list[Any]:
    """POST every body at once, one thread each."""
    barrier = Barrier(len(bodies))

    def post(body: dict[str, Any]) -> Any:
        barrier.wait()
        return api.post("/v1/claims", json=body)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(post, bodies))


def transactions(settings: Settings, claim_ids: list[str]) -> int:
    """How many transactions stored these claims' events (their rows' distinct xmin)."""
    query = sql.SQL("SELECT count(DISTINCT xmin::text) FROM {} WHERE originator_id = ANY(%s::uuid[])").format(
        sql.Identifier(settings.db_schema, "claims_events")
    )
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        return conn.execute(query, (claim_ids,)).fetchone()[0]  # type: ignore[index]


def metric(api: Any, name: str) -> float:
    line = next(line for line in api.get("/metrics").text.splitlines() if line.startswith(name + " "))
    return float(line.split()[1])


def test_concurrent_claims_are_coalesced_and_each_answered_after_its_commit(api: Any, settings: Settings) -> None:
    responses = post_concurrently(api, [claim_body(text=f"Aussage {i}") for i in range(CLIENTS)])
    assert [r.status_code for r in responses] == [201] * CLIENTS, [r.text for r in responses if r.status_code != 201]
    positions = [int(r.headers["X-Event-Position"]) for r in responses]
    assert len(set(positions)) == CLIENTS
    for i, response in enumerate(responses):
        assert api.get(response.headers["Location"]).json()["text"] == f"Aussage {i}"
    ids = [r.json()["id"] for r in responses]
    used = transactions(settings, ids)
    assert used < CLIENTS
    assert metric(api, "claims_group_commit_size_sum") == CLIENTS  # the parties were registered, not grouped
    assert metric(api, "claims_group_commit_size_count") == used


def test_a_bad_claim_among_concurrent_good_ones_gets_422_alone(api: Any) -> None:
    bodies = [claim_body(text=f"Aussage {i}") for i in range(CLIENTS)]
    bodies[7] = claim_body(speaker="Nobody")
    bodies[19] = claim_body(text="a new topic", topic="geneva-talks")
    bodies[20] = claim_body(text="the same new topic", topic="geneva-talks")
    responses = post_concurrently(api, bodies)
    codes = [r.status_code for r in responses]
    assert codes == [201] * 7 + [422] + [201] * (CLIENTS - 8)
    assert responses[7].json()["errors"][0]["field"] == "speaker"
    assert api.get("/v1/topics/geneva-talks").status_code == 200


def test_a_reused_claim_id_gets_409_alone(api: Any) -> None:
    claim_id = "0b9f6f7e-3a51-4a3c-9d39-6f7a4f2b9c11"
    bodies = [claim_body(text=f"Aussage {i}") for i in range(CLIENTS)]
    bodies[3] = claim_body(id=claim_id, text="original")
    bodies[4] = claim_body(id=claim_id, text="other content")
    responses = post_concurrently(api, bodies)
    codes = [r.status_code for r in responses]
    assert sorted(codes[3:5]) == [201, 409]  # one of the two wins; the other clashes, alone
    assert codes[:3] + codes[5:] == [201] * (CLIENTS - 2)
    winner = responses[3] if codes[3] == 201 else responses[4]
    assert api.get(f"/v1/claims/{claim_id}").json()["text"] == winner.json()["text"]


@pytest.fixture
def naive(settings: Settings) -> Iterator[Services]:
    services = bootstrap(settings.model_copy(update={"group_commit": False}))
    try:
        yield services
    finally:
        services.close()


def test_without_group_commit_each_claim_is_its_own_transaction(naive: Services, settings: Settings) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(services=naive)) as api:
        for party in PARTIES:
            assert api.post("/v1/parties", json=party).status_code == 201
        assert api.post("/v1/claims", json=claim_body()).status_code == 201  # defines the topic
        responses = post_concurrently(api, [claim_body(text=f"Aussage {i}") for i in range(CLIENTS)])
        assert [r.status_code for r in responses] == [201] * CLIENTS
        assert transactions(settings, [r.json()["id"] for r in responses]) == CLIENTS
        assert metric(api, "claims_group_commit_size_count") == 0


def test_a_claim_that_fails_inside_the_commit_fails_alone_and_its_neighbours_are_stored(api: Any) -> None:
    innocent = [claim_body(text=f"Aussage {i}") for i in range(30)]
    culprit = claim_body(text="culprit", facts={"note": "\ud800"})  # a lone surrogate: no UTF-8 holds it
    barrier = Barrier(len(innocent) + 1)

    def post(body: dict[str, Any]) -> Any:
        barrier.wait()
        return api.post("/v1/claims", content=json.dumps(body), headers={"Content-Type": "application/json"})

    with ThreadPoolExecutor(len(innocent) + 1) as pool:
        *responses, refused = list(pool.map(post, [*innocent, culprit]))
    assert [r.status_code for r in responses] == [201] * 30, [r.text for r in responses if r.status_code != 201]
    for i, response in enumerate(responses):
        assert api.get(response.headers["Location"]).json()["text"] == f"Aussage {i}"
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "facts" in refused.text


def test_a_group_stored_in_one_statement_answers_the_logged_positions_and_keeps_the_chain(
    api: Any, settings: Settings
) -> None:
    """The group's one round trip (``claims_insert_events``) stores what insert_events did: each
    claim's event at the position its answer names, positions without gaps, the hash chain whole."""
    assert api.post("/v1/claims", json=claim_body()).status_code == 201  # its topic defined: none in the group
    responses = post_concurrently(api, [claim_body(text=f"Satz {i}") for i in range(CLIENTS)])
    assert [r.status_code for r in responses] == [201] * CLIENTS
    query = sql.SQL(
        "SELECT originator_id::text AS id, notification_id FROM {} WHERE originator_id = ANY(%s::uuid[])"
    ).format(sql.Identifier(settings.db_schema, "claims_events"))
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        stored = dict(conn.execute(query, ([r.json()["id"] for r in responses],)).fetchall())
    assert {r.json()["id"]: int(r.headers["X-Event-Position"]) for r in responses} == stored
    assert sorted(stored.values()) == list(range(min(stored.values()), min(stored.values()) + CLIENTS))
    assert transactions(settings, list(stored)) < CLIENTS
    verified = api.get("/v1/audit/verify").json()
    assert verified["ok"] is True, verified
