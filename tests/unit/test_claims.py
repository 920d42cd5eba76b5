"""Claim rules, on the in-memory store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import RFC_4122, uuid4

import pytest

from domain.application import ClaimsApplication
from domain.errors import (
    BatchRejected,
    ClaimAlreadyRetracted,
    ClaimAlreadySuperseded,
    ClaimExists,
    ClaimNotFound,
    ClaimRetracted,
    InvalidCorrection,
    InvalidSupersession,
    StaleVersion,
    TopicNotFound,
    UnknownClaim,
    UnknownParty,
)
from tests.conftest import meta
from tests.unit.conftest import SOURCE, claim_fields


def record(app: ClaimsApplication, **overrides: object):
    return app.record_claim(claim_fields(**overrides), meta()).value


def test_speaker_given_by_alias_is_recorded_as_the_party_id(parties: ClaimsApplication) -> None:
    claim = record(parties, speaker="Песков", co_speakers=["Dmitrijew"], about="Dmitriew")
    assert claim.speaker == "dmitry-peskov"
    assert claim.co_speakers == ["kirill-dmitriev"]
    assert claim.about == "kirill-dmitriev"


def test_unknown_speaker_is_refused_naming_the_field(parties: ClaimsApplication) -> None:
    with pytest.raises(UnknownParty) as e:
        record(parties, speaker="Lawrow")
    assert e.value.field == "speaker"
    with pytest.raises(UnknownParty) as e:
        record(parties, co_speakers=["Umerow", "Nobody"])
    assert e.value.field == "co_speakers[1]"


def test_claim_on_unknown_topic_defines_it_with_the_slug_as_title(parties: ClaimsApplication) -> None:
    record(parties, topic="security-guarantees")
    topic = parties.get_topic("security-guarantees")
    assert topic.title == "security-guarantees"
    record(parties, topic="security-guarantees")  # a second claim does not define it again
    assert parties.get_topic("security-guarantees").version == 1


def test_every_event_carries_who_when_and_which_request(parties: ClaimsApplication) -> None:
    at = datetime(2025, 12, 22, 8, 0, tzinfo=UTC)
    from domain.base import Meta

    claim = parties.record_claim(claim_fields(), Meta(at, "desk-1", "req-42")).value
    parties.retract_claim(claim.id, "misquoted", None, Meta(at + timedelta(hours=1), "desk-2", "req-43"))
    events = parties.claim_history(claim.id)
    assert [(type(e).__name__, e.timestamp, e.meta["recorded_by"], e.meta["correlation_id"]) for e in events] == [
        ("ClaimAsserted", at, "desk-1", "req-42"),
        ("ClaimRetracted", at + timedelta(hours=1), "desk-2", "req-43"),
    ]


def test_retracted_claim_takes_no_correction_corroboration_dispute_or_supersession(
    parties: ClaimsApplication,
) -> None:
    claim = record(parties)
    other = record(parties)
    parties.retract_claim(claim.id, "misattributed", None, meta())
    with pytest.raises(ClaimRetracted):
        parties.correct_claim(claim.id, 2, {"stance": "mixed"}, "reason", meta())
    with pytest.raises(ClaimRetracted):
        parties.corroborate_claim(claim.id, "russia", None, None, meta())
    with pytest.raises(ClaimRetracted):
        parties.dispute_claim(claim.id, "ukraine", None, None, None, meta())
    with pytest.raises(ClaimRetracted):
        parties.supersede_claim(claim.id, other.id, None, meta())
    assert parties.get_claim(claim.id).version == 2


def test_second_retraction_is_a_conflict(parties: ClaimsApplication) -> None:
    claim = record(parties)
    parties.retract_claim(claim.id, "misattributed", {"url": "https://example.org/x"}, meta())
    with pytest.raises(ClaimAlreadyRetracted):
        parties.retract_claim(claim.id, "again", None, meta())


def test_supersession_needs_an_existing_other_claim_and_happens_once(parties: ClaimsApplication) -> None:
    claim, newer, newest = record(parties), record(parties), record(parties)
    with pytest.raises(UnknownClaim) as e:
        parties.supersede_claim(claim.id, uuid4(), None, meta())
    assert e.value.field == "by_claim"
    with pytest.raises(InvalidSupersession):
        parties.supersede_claim(claim.id, claim.id, None, meta())
    parties.supersede_claim(claim.id, newer.id, "updated statement", meta())
    assert parties.get_claim(claim.id).status == "superseded"
    assert parties.get_claim(claim.id).superseded_by == str(newer.id)
    with pytest.raises(ClaimAlreadySuperseded):
        parties.supersede_claim(claim.id, newest.id, None, meta())


def test_correction_changes_only_fields_a_claim_has_and_needs_a_reason(parties: ClaimsApplication) -> None:
    claim = record(parties)
    with pytest.raises(InvalidCorrection) as e:
        parties.correct_claim(claim.id, 1, {"mood": "grim"}, "typo", meta())
    assert e.value.field == "changes.mood"
    with pytest.raises(InvalidCorrection) as e:
        parties.correct_claim(claim.id, 1, {"stance": "mixed"}, "  ", meta())
    assert e.value.field == "reason"
    with pytest.raises(InvalidCorrection):
        parties.correct_claim(claim.id, 1, {"stance": "negative"}, "no change", meta())
    corrected = parties.correct_claim(claim.id, 1, {"stance": "mixed", "speaker": "Kreml"}, "re-read", meta()).value
    assert (corrected.version, corrected.stance, corrected.speaker) == (2, "mixed", "kremlin")


def test_correction_with_stale_version_is_refused(parties: ClaimsApplication) -> None:
    claim = record(parties)
    parties.correct_claim(claim.id, 1, {"stance": "mixed"}, "re-read", meta())
    with pytest.raises(StaleVersion):
        parties.correct_claim(claim.id, 1, {"stance": "neutral"}, "re-read", meta())


def test_dispute_names_an_existing_counter_claim(parties: ClaimsApplication) -> None:
    claim, counter = record(parties), record(parties, speaker="ukraine", stance="positive")
    with pytest.raises(UnknownClaim):
        parties.dispute_claim(claim.id, "ukraine", None, "no", uuid4(), meta())
    disputed = parties.dispute_claim(claim.id, "Umerow", {"url": "https://example.org/d"}, "no", counter.id, meta())
    assert disputed.value.disputes[0]["by"] == "rustem-umerov"
    assert disputed.value.disputes[0]["counter_claim"] == str(counter.id)


def test_batch_with_one_bad_item_records_nothing_and_names_it(parties: ClaimsApplication) -> None:
    good = claim_fields(topic="brand-new-topic")
    head = parties.recorder.max_notification_id()
    with pytest.raises(BatchRejected) as e:
        parties.record_claims([good, claim_fields(speaker="Nobody"), good], meta())
    assert e.value.errors == [
        {"index": 1, "field": "speaker", "reason": "no party is called 'Nobody'", "name": "Nobody", "candidates": []}
    ]
    assert parties.recorder.max_notification_id() == head
    with pytest.raises(TopicNotFound):
        parties.get_topic("brand-new-topic")


def test_client_chosen_id_answers_the_same_content_again_and_refuses_other_content(
    parties: ClaimsApplication,
) -> None:
    claim_id = uuid4()
    first = parties.record_claim(claim_fields(id=claim_id), meta())
    again = parties.record_claim(claim_fields(id=claim_id), meta())
    assert again.value.id == first.value.id and again.position is None
    with pytest.raises(ClaimExists):
        parties.record_claim(claim_fields(id=claim_id, text="other"), meta())


def test_claim_as_it_was_at_a_version_or_a_time(parties: ClaimsApplication) -> None:
    from domain.base import Meta

    t0 = datetime(2025, 12, 21, 20, 0, tzinfo=UTC)
    claim = parties.record_claim(claim_fields(), Meta(t0, "a", "r1")).value
    parties.correct_claim(claim.id, 1, {"stance": "mixed"}, "re-read", Meta(t0 + timedelta(days=1), "a", "r2"))
    assert parties.get_claim(claim.id, version=1).stance == "negative"
    assert parties.get_claim(claim.id, as_of=t0 + timedelta(hours=1)).stance == "negative"
    assert parties.get_claim(claim.id, as_of=t0 + timedelta(days=2)).stance == "mixed"
    with pytest.raises(ClaimNotFound):
        parties.get_claim(claim.id, as_of=t0 - timedelta(seconds=1))
    with pytest.raises(ClaimNotFound):
        parties.get_claim(claim.id, version=3)
    assert SOURCE == parties.get_claim(claim.id).source


def test_a_claim_made_directly_is_the_one_the_library_makes_with_the_same_event() -> None:
    from domain.claim import Claim

    claim_id, when = uuid4(), meta()
    fields = {"speaker": "dmitry-peskov", "co_speakers": ["kremlin"], "topic": "miami-talks", "text": "Text",
              "language": "de", "verbatim": True, "stance": "negative", "position": None, "kind": "statement",
              "stated_at": "2025-12-21", "source": dict(SOURCE), "about": None, "facts": {"n": 1}}
    by_library = Claim(id=claim_id, meta=when, **fields)
    direct = Claim.assert_new(claim_id, when, **fields)
    fields["co_speakers"].append("russia")  # neither keeps what the caller passed in
    (library_event,), (direct_event,) = by_library.collect_events(), direct.collect_events()
    assert type(direct_event) is type(library_event)
    assert list(vars(direct_event).items()) == list(vars(library_event).items())  # the stored JSON's key order too
    assert vars(direct) == vars(by_library)
    assert direct.co_speakers == ["kremlin"]


def test_a_batch_gives_each_claim_without_an_id_a_random_one_and_keeps_those_given(
    parties: ClaimsApplication,
) -> None:
    given = uuid4()
    claims = parties.record_claims([claim_fields(), claim_fields(id=given), claim_fields(), claim_fields()],
                                   meta()).value
    assert claims[1].id == given
    drawn = [c.id for c in claims if c.id != given]
    assert len(set(drawn)) == 3 and all(i.version == 4 and i.variant == RFC_4122 for i in drawn)
    assert [parties.get_claim(c.id).text for c in claims] == [c.text for c in claims]
