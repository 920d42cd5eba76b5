"""Events stored by older versions of the service still load and project (upcasting), on PostgreSQL."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import StoredEvent, Tracking

from api.bootstrap import Services
from domain.claim import Claim
from projections.claims import ClaimsProjection
from projections.runner import PROJECTIONS
from tests.conftest import meta
from tests.unit.conftest import claim_fields


def store_as_an_older_version_would(
    services: Services, facts: dict[str, Any] | None, version_key: dict[str, int]
) -> UUID:
    """Insert a ClaimAsserted straight into the events table, shaped as an older service stored it.

    The state is what ``mapper.to_stored_event`` makes of a claim today, less what older
    versions did not write: ``facts`` (if ``facts`` is None) and the ``class_version`` key
    (replaced by ``version_key``). Compression and encryption are off, so the transcoder's
    bytes are the stored bytes.
    """
    mapper = services.app.mapper
    assert mapper.compressor is None and mapper.cipher is None
    claim_id = uuid4()
    fields = claim_fields(facts=facts or {})
    claim = Claim(id=claim_id, **fields, meta=meta())
    current = mapper.to_stored_event(claim.collect_events()[0])
    state = mapper.transcoder.decode(current.state)
    assert state.pop("class_version") == 2  # what this version writes, and older ones did not
    if facts is None:
        del state["facts"]
    state.update(version_key)
    services.app.recorder.insert_events(
        [
            StoredEvent(
                originator_id=claim_id,
                originator_version=1,
                topic=current.topic,  # "domain.claim:Claim.ClaimAsserted", as ever
                state=mapper.transcoder.encode(state),
            )
        ]
    )
    return claim_id


def project_claims(services: Services) -> list[dict[str, Any]]:
    """Apply every stored event to the claims view, as its projection worker would; the view's claims."""
    assert PROJECTIONS["claims"][1] is ClaimsProjection
    notifications = services.app.recorder.select_notifications(start=1, limit=10)
    events = [(n.id, services.app.mapper.to_domain_event(n)) for n in notifications]
    position = events[-1][0]
    ClaimsProjection(services.views["claims"]).process_batch(events, Tracking("claims", position))
    docs, _ = services.views["claims"].list()
    return docs


@pytest.mark.parametrize("version_key", [{}, {"class_version": 1}], ids=["no-class-version", "class-version-1"])
def test_claim_recorded_before_facts_existed_loads_and_projects_with_no_facts(
    services: Services, version_key: dict[str, int]
) -> None:
    claim_id = store_as_an_older_version_would(services, facts=None, version_key=version_key)

    claim = services.app.get_claim(claim_id)
    assert claim.facts == {}
    assert (claim.version, claim.speaker, claim.status) == (1, "dmitry-peskov", "active")

    event = services.app.mapper.to_domain_event(services.app.recorder.select_notifications(start=1, limit=10)[0])
    assert isinstance(event, Claim.ClaimAsserted)
    assert type(event).__name__ == "ClaimAsserted"
    assert event.facts == {}

    docs = project_claims(services)
    assert [(doc["id"], doc["facts"]) for doc in docs] == [(str(claim_id), {})]
    assert services.views["claims"].position() == 1


def test_claim_recorded_before_events_were_versioned_keeps_its_facts(services: Services) -> None:
    """Unversioned events count as version 1, but those written before this change do have facts."""
    facts = {"figure": "100 000", "unit": "soldiers"}
    claim_id = store_as_an_older_version_would(services, facts=facts, version_key={})

    assert services.app.get_claim(claim_id).facts == facts
    docs = project_claims(services)
    assert [(doc["id"], doc["facts"]) for doc in docs] == [(str(claim_id), facts)]


def test_claim_recorded_now_is_stored_as_version_2_and_reads_back_unchanged(services: Services) -> None:
    facts = {"figure": "3", "unit": "meetings"}
    claim = Claim(id=uuid4(), **claim_fields(facts=facts), meta=meta())
    services.app.save(claim)

    (notification,) = services.app.recorder.select_notifications(start=1, limit=10)
    assert notification.topic == "domain.claim:Claim.ClaimAsserted"
    assert services.app.mapper.transcoder.decode(notification.state)["class_version"] == 2
    assert services.app.get_claim(claim.id).facts == facts
    assert [doc["facts"] for doc in project_claims(services)] == [facts]
