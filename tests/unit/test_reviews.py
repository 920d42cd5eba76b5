"""Verdicts on claims (ClaimReviewed), on the in-memory store."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.application import ClaimsApplication
from domain.errors import ClaimNotFound, InvalidRequest, UnknownParty
from tests.conftest import meta
from tests.unit.conftest import claim_fields

CHECK = "https://example.org/checks/peskov-miami"


@pytest.fixture
def desk(parties: ClaimsApplication) -> ClaimsApplication:
    parties.register_party("faktencheck", "Faktencheck-Desk", "organization", None, ["FC Desk"], meta())
    parties.register_party("bbc", "BBC Verify", "media", None, [], meta())
    return parties


def test_a_review_is_recorded_on_the_claim_with_its_rating_note_and_sources(desk: ClaimsApplication) -> None:
    claim = desk.record_claim(claim_fields(), meta()).value
    reviewed = desk.review_claim(claim.id, "FC Desk", "mostly-false", "only partly said", [CHECK], meta()).value
    assert [(r["by"], r["rating"], r["note"], r["sources"]) for r in reviewed.reviews] == [
        ("faktencheck", "mostly-false", "only partly said", [CHECK])
    ]
    assert [type(e).__name__ for e in desk.claim_history(claim.id)] == ["ClaimAsserted", "ClaimReviewed"]


def test_a_later_review_by_the_same_reviewer_supersedes_theirs_and_both_stay_in_history(desk: ClaimsApplication) -> None:
    claim = desk.record_claim(claim_fields(), meta()).value
    desk.review_claim(claim.id, "faktencheck", "unverifiable", None, [], meta())
    desk.review_claim(claim.id, "bbc", "mixed", None, [], meta())
    now = desk.review_claim(claim.id, "faktencheck", "false", "the transcript says otherwise", [CHECK], meta()).value
    assert [(r["by"], r["rating"]) for r in now.reviews] == [("bbc", "mixed"), ("faktencheck", "false")]
    history = [(type(e).__name__, getattr(e, "rating", None)) for e in desk.claim_history(claim.id)]
    assert history[1:] == [("ClaimReviewed", "unverifiable"), ("ClaimReviewed", "mixed"), ("ClaimReviewed", "false")]
    assert desk.get_claim(claim.id, version=2).reviews[0]["rating"] == "unverifiable"


def test_a_retracted_claim_can_still_be_reviewed(desk: ClaimsApplication) -> None:
    claim = desk.record_claim(claim_fields(), meta()).value
    desk.retract_claim(claim.id, "withdrawn by the outlet", None, meta())
    reviewed = desk.review_claim(claim.id, "faktencheck", "false", None, [], meta()).value
    assert reviewed.status == "retracted"
    assert reviewed.reviews[0]["rating"] == "false"


def test_a_review_with_an_unknown_rating_reviewer_or_claim_is_refused(desk: ClaimsApplication) -> None:
    claim = desk.record_claim(claim_fields(), meta()).value
    with pytest.raises(InvalidRequest) as e:
        desk.review_claim(claim.id, "faktencheck", "pants-on-fire", None, [], meta())
    assert e.value.field == "rating"
    with pytest.raises(UnknownParty) as e:
        desk.review_claim(claim.id, "Nobody", "false", None, [], meta())
    assert e.value.field == "by"
    with pytest.raises(ClaimNotFound):
        desk.review_claim(uuid4(), "faktencheck", "false", None, [], meta())
    assert desk.get_claim(claim.id).version == 1
