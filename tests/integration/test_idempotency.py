"""Idempotency-Key on POST: a retry gets the first answer and records nothing new (real PostgreSQL)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from psycopg.sql import SQL, Identifier

from adapters.settings import Settings
from api.app import create_app
from api.bootstrap import Services, bootstrap
from tests.integration.conftest import claim_body

PEOPLE = [
    {"id": "dmitry-peskov", "name": "Dmitry Peskov", "kind": "person", "aliases": ["Peskow"]},
    {"id": "kirill-dmitriev", "name": "Kirill Dmitriev", "kind": "person", "aliases": ["Dmitrijew"]},
]
REPLAYED = "Idempotent-Replayed"
WRITE_HEADERS = ("Location", "ETag", "X-Event-Position", "Content-Type")


@pytest.fixture
def api(client: Any) -> Any:
    for party in PEOPLE:
        assert client.post("/v1/parties", json=party).status_code == 201
    return client


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


def asserted(services: Services) -> int:
    """How many claims the log holds."""
    with services.app.recorder.datastore.transaction(commit=False) as curs:  # type: ignore[attr-defined]
        row = curs.execute(
            SQL("SELECT count(*) AS n FROM {} WHERE topic LIKE %s").format(
                Identifier(services.settings.db_schema, "claims_events")
            ),
            ("%ClaimAsserted",),
        ).fetchone()
    return int(row["n"])


def head(services: Services) -> int:
    return services.app.recorder.max_notification_id() or 0  # type: ignore[attr-defined]


def age_keys(services: Services, hours: float, *, column: str = "created_at") -> None:
    with services.app.recorder.datastore.transaction(commit=True) as curs:  # type: ignore[attr-defined]
        curs.execute(
            SQL("UPDATE {} SET {} = {} - %s * interval '1 hour'").format(
                Identifier(services.settings.db_schema, "idempotency"), Identifier(column), Identifier(column)
            ),
            (hours,),
        )


def same_answer(first: Any, again: Any) -> None:
    assert again.status_code == first.status_code
    assert again.content == first.content
    for name in WRITE_HEADERS:
        assert again.headers.get(name) == first.headers.get(name), name


def test_a_retry_with_the_same_key_and_body_gets_the_first_answer_and_records_nothing(
    api: Any, services: Services
) -> None:
    first = api.post("/v1/claims", json=claim_body(), headers=key("claim-1"))
    assert first.status_code == 201 and REPLAYED not in first.headers
    position = head(services)

    again = api.post("/v1/claims", json=claim_body(), headers=key("claim-1"))

    same_answer(first, again)
    assert again.headers["Location"] == f"/v1/claims/{first.json()['id']}"
    assert again.headers[REPLAYED] == "true"
    assert again.headers["X-Request-ID"] != first.headers["X-Request-ID"]  # the retry's own request id
    assert head(services) == position and asserted(services) == 1


def test_the_same_key_with_another_body_is_422_and_records_nothing(api: Any, services: Services) -> None:
    assert api.post("/v1/claims", json=claim_body(), headers=key("k")).status_code == 201
    position = head(services)

    other = api.post("/v1/claims", json=claim_body(stance="positive"), headers=key("k"))

    assert other.status_code == 422
    assert other.headers["Content-Type"] == "application/problem+json"
    assert other.json()["errors"] == [{"field": "Idempotency-Key", "reason": "used with a different request"}]
    assert head(services) == position
    # Another path with the same body is another request too.
    assert api.post("/v1/parties", json=PEOPLE[0], headers=key("k")).status_code == 422


def test_different_keys_and_no_key_record_each_time(api: Any, services: Services) -> None:
    one = api.post("/v1/claims", json=claim_body(), headers=key("a"))
    two = api.post("/v1/claims", json=claim_body(), headers=key("b"))
    three = api.post("/v1/claims", json=claim_body())
    four = api.post("/v1/claims", json=claim_body())
    assert {one.status_code, two.status_code, three.status_code, four.status_code} == {201}
    assert len({r.json()["id"] for r in (one, two, three, four)}) == 4
    assert asserted(services) == 4


def test_batches_and_parties_are_idempotent_too(api: Any, services: Services) -> None:
    batch = [claim_body(), claim_body(stance="positive")]
    first = api.post("/v1/claims/batch", json=batch, headers=key("batch-1"))
    assert first.status_code == 201
    again = api.post("/v1/claims/batch", json=batch, headers=key("batch-1"))
    same_answer(first, again)
    assert again.headers[REPLAYED] == "true" and asserted(services) == 2

    ndjson = b"\n".join(orjson.dumps(item) for item in batch)
    headers = {**key("batch-2"), "Content-Type": "application/x-ndjson"}
    first = api.post("/v1/claims/batch", content=ndjson, headers=headers)
    again = api.post("/v1/claims/batch", content=ndjson, headers=headers)
    same_answer(first, again)
    assert asserted(services) == 4

    party = {"id": "bbc", "name": "BBC", "kind": "media"}
    first = api.post("/v1/parties", json=party, headers=key("party-1"))
    assert first.status_code == 201
    position = head(services)
    again = api.post("/v1/parties", json=party, headers=key("party-1"))
    same_answer(first, again)
    assert again.headers[REPLAYED] == "true" and head(services) == position
    # Without the key, the same registration is a conflict: the party exists.
    assert api.post("/v1/parties", json=party).status_code == 409


def test_concurrent_duplicates_with_one_key_record_once_and_all_get_the_same_answer(
    api: Any, services: Services
) -> None:
    writers = 16
    barrier = Barrier(writers)
    body = claim_body()

    def post(_: int) -> Any:
        barrier.wait()
        return api.post("/v1/claims", json=body, headers=key("race"))

    with ThreadPoolExecutor(writers) as pool:
        answers = list(pool.map(post, range(writers)))

    assert [a.status_code for a in answers] == [201] * writers
    assert len({a.json()["id"] for a in answers}) == 1
    assert len({a.headers["Location"] for a in answers}) == 1
    assert len({a.headers["X-Event-Position"] for a in answers}) == 1
    assert sum(REPLAYED not in a.headers for a in answers) == 1
    assert asserted(services) == 1


def test_keys_survive_a_restart(api: Any, settings: Settings, services: Services) -> None:
    first = api.post("/v1/claims", json=claim_body(), headers=key("before-restart"))
    assert first.status_code == 201
    position = head(services)

    restarted = bootstrap(settings)
    try:
        with TestClient(create_app(services=restarted)) as client:
            again = client.post("/v1/claims", json=claim_body(), headers=key("before-restart"))
        same_answer(first, again)
        assert again.headers[REPLAYED] == "true"
        assert head(restarted) == position
    finally:
        restarted.close()


def test_a_4xx_answer_is_stored_and_replayed(api: Any, services: Services) -> None:
    """A client error is the request's answer: the retry gets it again, even once the request would pass."""
    body = claim_body(speaker="Selenskyj")
    first = api.post("/v1/claims", json=body, headers=key("unknown-speaker"))
    assert first.status_code == 422
    assert api.post("/v1/parties", json={"id": "zelensky", "name": "Volodymyr Zelensky", "kind": "person",
                                         "aliases": ["Selenskyj"]}).status_code == 201

    again = api.post("/v1/claims", json=body, headers=key("unknown-speaker"))
    same_answer(first, again)
    assert again.headers[REPLAYED] == "true"
    assert api.post("/v1/claims", json=body, headers=key("fresh")).status_code == 201


def _refuse_inserts(services: Services, refuse: bool) -> None:
    """A real failure of the database while the key's row is fine: its events table refuses every INSERT."""
    schema = services.settings.db_schema
    with services.app.recorder.datastore.transaction(commit=True) as curs:  # type: ignore[attr-defined]
        if refuse:
            curs.execute(SQL("CREATE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS "
                             "$$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$")
                         .format(Identifier(schema, "disk_full")))
            curs.execute(SQL("CREATE TRIGGER disk_full BEFORE INSERT ON {} FOR EACH STATEMENT EXECUTE FUNCTION {}()")
                         .format(Identifier(schema, "claims_events"), Identifier(schema, "disk_full")))
        else:
            curs.execute(SQL("DROP TRIGGER disk_full ON {}").format(Identifier(schema, "claims_events")))


def test_a_5xx_answer_is_not_stored_so_a_retry_runs_again(api: Any, services: Services) -> None:
    _refuse_inserts(services, True)
    try:
        with TestClient(create_app(services=services), raise_server_exceptions=False) as client:
            failed = client.post("/v1/claims", json=claim_body(), headers=key("flaky"))
    finally:
        _refuse_inserts(services, False)
    assert failed.status_code >= 500, failed.text
    assert services.idempotency is not None and services.idempotency.get("local", "flaky") is None
    assert asserted(services) == 0
    retried = api.post("/v1/claims", json=claim_body(), headers=key("flaky"))
    assert retried.status_code == 201 and REPLAYED not in retried.headers
    again = api.post("/v1/claims", json=claim_body(), headers=key("flaky"))
    assert again.headers[REPLAYED] == "true" and again.json()["id"] == retried.json()["id"]
    assert asserted(services) == 1


def test_expired_keys_are_no_longer_replayed(api: Any, services: Services) -> None:
    first = api.post("/v1/claims", json=claim_body(), headers=key("old"))
    age_keys(services, 25)

    again = api.post("/v1/claims", json=claim_body(), headers=key("old"))

    assert again.status_code == 201 and REPLAYED not in again.headers
    assert again.json()["id"] != first.json()["id"]
    assert asserted(services) == 2
    # Expired keys of others are purged (at most once a minute per process).
    api.post("/v1/claims", json=claim_body(), headers=key("other"))
    age_keys(services, 25)
    assert services.idempotency is not None and services.idempotency.purge() == 2


def test_keys_younger_than_the_ttl_are_kept(api: Any, services: Services) -> None:
    api.post("/v1/claims", json=claim_body(), headers=key("young"))
    age_keys(services, 23)
    assert services.idempotency is not None and services.idempotency.purge() == 0
    assert api.post("/v1/claims", json=claim_body(), headers=key("young")).headers[REPLAYED] == "true"


@pytest.mark.parametrize("value", ["", "x" * 256, "tab\there"])
def test_a_malformed_key_is_422(api: Any, services: Services, value: str) -> None:
    answer = api.post("/v1/claims", json=claim_body(), headers=key(value))
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "Idempotency-Key"
    assert asserted(services) == 0


def test_a_non_ascii_key_is_422(api: Any) -> None:
    answer = api.post("/v1/claims", json=claim_body(), headers={"Idempotency-Key": "ключ".encode()})
    assert answer.status_code == 422


def test_a_key_of_255_printable_characters_is_fine(api: Any) -> None:
    value = "".join(chr(32 + i % 95) for i in range(255)).strip()
    assert api.post("/v1/claims", json=claim_body(), headers=key(value)).status_code == 201
    assert api.post("/v1/claims", json=claim_body(), headers=key(value)).headers[REPLAYED] == "true"


def test_other_methods_ignore_the_header(api: Any) -> None:
    topic = {"title": "Miami talks", "description": "first"}
    first = api.put("/v1/topics/miami-talks", json=topic, headers=key("put"))
    second = api.put("/v1/topics/miami-talks", json={**topic, "description": "second"}, headers=key("put"))
    assert first.status_code == second.status_code == 200
    assert REPLAYED not in second.headers
    assert api.get("/v1/claims", headers=key("put")).status_code == 200


def test_keys_are_scoped_per_api_key_and_auth_answers_are_not_stored(api: Any, services: Services) -> None:
    _, one = services.keys.create("desk-1", "writer")
    _, two = services.keys.create("desk-2", "writer")
    _, reader = services.keys.create("reader-1", "reader")

    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", **key("shared")}

    # No token and a reader's: refused, and the key stays free.
    assert api.post("/v1/claims", json=claim_body(), headers=key("shared")).status_code == 401
    assert api.post("/v1/claims", json=claim_body(), headers=auth(reader)).status_code == 403
    first = api.post("/v1/claims", json=claim_body(), headers=auth(one))
    other = api.post("/v1/claims", json=claim_body(stance="positive"), headers=auth(two))
    assert first.status_code == other.status_code == 201
    assert api.post("/v1/claims", json=claim_body(), headers=auth(one)).headers[REPLAYED] == "true"
    # The reader still gets its 403, not desk-1's answer.
    assert api.post("/v1/claims", json=claim_body(), headers=auth(reader)).status_code == 403
    assert asserted(services) == 2
    history = api.get(f"/v1/claims/{other.json()['id']}/history", headers={"Authorization": f"Bearer {two}"})
    assert history.json()[0]["recorded_by"] == "desk-2"


def test_a_duplicate_of_a_request_still_running_waits_then_gets_409(
    api: Any, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    import api.idempotency as idem

    monkeypatch.setattr(idem, "WAIT_SECONDS", 0.3)
    body = b'{"id": "bbc", "name": "BBC", "kind": "media"}'
    fingerprint = hashlib.sha256(b"\0".join([b"POST", b"/v1/parties", body])).digest()
    store = services.idempotency
    assert store is not None and store.claim("local", "busy", "POST", "/v1/parties", fingerprint)

    with TestClient(create_app(services=services)) as client:
        headers = {**key("busy"), "Content-Type": "application/json"}
        answer = client.post("/v1/parties", content=body, headers=headers)
        assert answer.status_code == 409 and answer.headers["Retry-After"] == "1"
        assert answer.json()["type"] == "urn:claims:problem:idempotency-key-in-progress"

        # A claim whose process died (older than the lease) is taken over by the retry.
        age_keys(services, 11 / 60)
        assert client.post("/v1/parties", content=body, headers=headers).status_code == 201
        assert client.post("/v1/parties", content=body, headers=headers).headers[REPLAYED] == "true"


# An unreachable key table (PostgreSQL stopped) is tests/e2e/test_faults.py's
# test_idempotency_key_while_the_database_is_down_runs_nothing_and_the_retry_runs_once.


def test_a_streamed_body_past_the_limit_is_413_and_leaves_the_key_free(api: Any, services: Services) -> None:
    settings = services.settings.model_copy(update={"max_body_bytes": 4_096})
    items = orjson.dumps([claim_body(text=f"claim {i} " + "x" * 200) for i in range(50)])

    def chunks() -> Any:
        for start in range(0, len(items), 1_000):
            yield items[start:start + 1_000]

    with TestClient(create_app(settings=settings, services=services)) as small:
        answer = small.post("/v1/claims/batch", content=chunks(),
                            headers={**key("big"), "content-type": "application/json"})
        assert answer.status_code == 413, answer.text
        assert answer.json()["type"] == "urn:claims:problem:body-too-large"
        assert services.idempotency is not None and services.idempotency.get("local", "big") is None
        assert small.post("/v1/claims/batch", json=[claim_body()], headers=key("big")).status_code == 201


def _as_if_its_process_died_before_storing_the_answer(services: Services, idem_key: str) -> None:
    """The key's row as a process killed between its commit and storing its answer leaves it."""
    from adapters.idempotency import IdempotencyStore

    dead = IdempotencyStore(services.datastore)
    dead.hold()
    dead.close()  # its session ended: nobody holds its advisory lock any more
    with services.datastore.transaction(commit=True) as curs:
        curs.execute(
            SQL("UPDATE {} SET completed_at = NULL, status = NULL, body = NULL, headers = NULL, holder = %s"
                " WHERE key = %s").format(Identifier(services.settings.db_schema, "idempotency")),
            (dead.holder, idem_key),
        )


def test_a_retry_takes_over_at_once_from_a_dead_process_and_records_the_claim_once(
    api: Any, services: Services
) -> None:
    first = api.post("/v1/claims", json=claim_body(), headers=key("killed-mid-request"))
    assert first.status_code == 201
    _as_if_its_process_died_before_storing_the_answer(services, "killed-mid-request")

    again = api.post("/v1/claims", json=claim_body(), headers=key("killed-mid-request"))

    assert again.status_code == 201 and REPLAYED not in again.headers  # run again, not 409 for ten minutes
    assert again.json()["id"] == first.json()["id"]  # the id derived from the key: the claim found, as stored
    assert asserted(services) == 1
    assert api.post("/v1/claims", json=claim_body(), headers=key("killed-mid-request")).headers[REPLAYED] == "true"


def test_a_claim_held_by_a_live_process_is_not_taken_over(api: Any, services: Services) -> None:
    from adapters.idempotency import IdempotencyStore

    alive = IdempotencyStore(services.datastore)
    body = orjson.dumps(claim_body())
    try:
        import hashlib

        fingerprint = hashlib.sha256(b"\0".join([b"POST", b"/v1/claims", body])).digest()
        assert alive.claim("local", "in-flight", "POST", "/v1/claims", fingerprint)
        assert services.idempotency is not None
        assert services.idempotency.claim("local", "in-flight", "POST", "/v1/claims", fingerprint) is None
    finally:
        alive.close()
    assert services.idempotency.claim("local", "in-flight", "POST", "/v1/claims", fingerprint) is not None
