"""A batch is stored chunk by chunk while it is still being checked, and is still all or nothing.

Every ``domain.batch_save.CHUNK`` events go in by a COPY statement of their own, in the batch's
one transaction (adapters/copy_stream.py); these batches are long enough that a refusal comes
after chunks went in.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from psycopg.sql import SQL, Identifier

from domain.base import Meta
from domain.batch_save import CHUNK
from domain.errors import BatchRejected
from tests.integration.conftest import claim_body

LONG = 2 * CHUNK + 500  # three COPY statements
LATE = LONG - 100  # an item checked after two chunks were sent


def meta() -> Meta:
    return Meta(recorded_at=datetime.now(UTC), recorded_by="test", correlation_id="c")


def batch_positions(services: Any, ids: list[str]) -> list[int]:
    with services.app.recorder.datastore.transaction(commit=False) as curs:
        rows = curs.execute(
            SQL("SELECT notification_id FROM {} WHERE originator_id = ANY(%s::uuid[]) ORDER BY 1").format(
                Identifier(services.settings.db_schema, "claims_events")), (ids,)).fetchall()
    return [row["notification_id"] for row in rows]


def test_a_batch_refused_after_its_first_chunks_went_in_stores_nothing(api: Any, services: Any) -> None:
    api.post("/v1/claims", json=claim_body(text="vorher"))  # the topic, defined
    head = services.app.recorder.max_notification_id()
    items = [claim_body(text=f"Aussage {i}") for i in range(LONG)]
    items[LATE] = claim_body(speaker="Niemand")
    refused = api.post("/v1/claims/batch", json=items)
    assert refused.status_code == 422
    assert [(e["index"], e["field"]) for e in refused.json()["errors"]] == [(LATE, "speaker")]
    assert services.app.recorder.max_notification_id() == head
    after = api.post("/v1/claims", json=claim_body(text="nachher"))  # the table lock was let go
    assert after.status_code == 201 and int(after.headers["X-Event-Position"]) > head
    assert api.get("/v1/audit/verify").json()["ok"] is True


def test_a_claim_no_encoding_stores_late_in_a_batch_is_named_and_nothing_is_stored(api: Any, services: Any) -> None:
    head = services.app.recorder.max_notification_id()
    items = [claim_body(text=f"Aussage {i}") for i in range(LONG)]
    items[LATE] = claim_body(text="ein einsames \ud800")  # past the API's checks: the domain's own refusal
    with pytest.raises(BatchRejected) as refused:
        services.app.record_claims(items, meta())
    assert [(e["index"], e["field"]) for e in refused.value.errors] == [(LATE, "text")]
    assert services.app.recorder.max_notification_id() == head


def test_a_long_batch_takes_consecutive_positions_among_concurrent_writes_and_the_chain_holds(
    api: Any, services: Any
) -> None:
    api.post("/v1/claims", json=claim_body(text="vorher"))  # the topic, defined

    def write(n: int) -> list[str] | None:
        if n % 2:
            saved = services.app.record_claims([claim_body(text=f"Stapel {n} {i}") for i in range(LONG)], meta())
            return [str(claim.id) for claim in saved.value]
        for i in range(20):
            services.app.record_claim(claim_body(text=f"Einzeln {n} {i}"), meta())
        return None

    with ThreadPoolExecutor(4) as pool:
        batches = [ids for ids in pool.map(write, range(4)) if ids]
    for ids in batches:
        stored = batch_positions(services, ids)
        assert len(stored) == LONG and stored == list(range(stored[0], stored[0] + LONG))  # nothing in between
    assert api.get("/v1/audit/verify").json()["ok"] is True
