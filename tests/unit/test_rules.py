"""Rules a careless or hostile write must not break (issue 9, class 4), on the in-memory store."""

from __future__ import annotations

import pytest

from domain.application import ClaimsApplication
from domain.errors import AliasTaken, BatchRejected, InvalidCorrection, InvalidMerge, InvalidRequest, InvalidSupersession
from tests.conftest import meta
from tests.unit.conftest import claim_fields


def record(app: ClaimsApplication, **overrides: object):
    return app.record_claim(claim_fields(**overrides), meta()).value


def test_supersession_that_would_close_a_cycle_is_refused(parties: ClaimsApplication) -> None:
    a, b, c = record(parties, text="a"), record(parties, text="b"), record(parties, text="c")
    parties.supersede_claim(a.id, b.id, "b is newer", meta())
    with pytest.raises(InvalidSupersession) as e:
        parties.supersede_claim(b.id, a.id, "a is newer", meta())
    assert e.value.field == "by_claim" and "cycle" in e.value.detail
    parties.supersede_claim(b.id, c.id, "c is newer", meta())
    with pytest.raises(InvalidSupersession) as e:  # the chain is followed: c -> a -> b -> c
        parties.supersede_claim(c.id, a.id, None, meta())
    assert f"{c.id} -> {a.id} -> {b.id} -> {c.id}" in e.value.detail
    assert parties.get_claim(c.id).status == "active"  # the chain still ends in a claim that counts


def test_merge_into_an_own_affiliate_is_refused(parties: ClaimsApplication) -> None:
    with pytest.raises(InvalidMerge) as e:  # Peskov is affiliated with the Kremlin
        parties.merge_party("kremlin", "dmitry-peskov", None, meta())
    assert e.value.field == "into" and "its own affiliate" in e.value.detail
    with pytest.raises(InvalidMerge):  # through the chain: Peskov -> Kremlin -> Russia
        parties.merge_party("russia", "dmitry-peskov", None, meta())
    assert parties.get_party("kremlin").merged_into is None
    parties.merge_party("dmitry-peskov", "kremlin", "the press office speaks for it", meta())  # upwards is fine


def test_merge_cycle_is_seen_through_an_earlier_merge(parties: ClaimsApplication) -> None:
    parties.register_party("kreml-dup", "Kreml (Duplikat)", "government", None, [], meta())
    parties.register_party("aide", "An Aide", "person", "kreml-dup", [], meta())
    parties.merge_party("kreml-dup", "kremlin", None, meta())  # the aide now speaks for the Kremlin
    with pytest.raises(InvalidMerge):
        parties.merge_party("kremlin", "aide", None, meta())


def test_speaker_among_its_co_speakers_is_refused_naming_the_item(parties: ClaimsApplication) -> None:
    with pytest.raises(InvalidRequest) as e:
        record(parties, speaker="rustem-umerov", co_speakers=["steve-witkoff", "Umerow"])
    assert e.value.field == "co_speakers[1]" and "the speaker" in e.value.detail


def test_a_co_speaker_named_twice_by_any_spelling_is_refused(parties: ClaimsApplication) -> None:
    with pytest.raises(InvalidRequest) as e:
        record(parties, speaker="rustem-umerov", co_speakers=["steve-witkoff", "Steve Witkoff"])
    assert e.value.field == "co_speakers[1]" and "co_speakers[0]" in e.value.detail
    with pytest.raises(BatchRejected) as batch:
        parties.record_claims([claim_fields(), claim_fields(co_speakers=["Peskow"])], meta())
    assert [(x["index"], x["field"]) for x in batch.value.errors] == [(1, "co_speakers[0]")]
    claim = record(parties, speaker="rustem-umerov", co_speakers=["Steve Witkoff"])
    assert claim.co_speakers == ["steve-witkoff"]


def test_corrections_of_speakers_follow_the_same_rule(parties: ClaimsApplication) -> None:
    claim = record(parties, speaker="rustem-umerov", co_speakers=["steve-witkoff"])
    with pytest.raises(InvalidRequest) as e:
        parties.correct_claim(claim.id, 1, {"co_speakers": ["steve-witkoff", "Umerow"]}, "r", meta())
    assert e.value.field == "changes.co_speakers[1]"
    with pytest.raises(InvalidCorrection) as e:
        parties.correct_claim(claim.id, 1, {"speaker": "Steve Witkoff"}, "r", meta())
    assert e.value.field == "changes.speaker"
    swapped = parties.correct_claim(claim.id, 1, {"speaker": "steve-witkoff", "co_speakers": ["Umerow"]}, "r", meta())
    assert (swapped.value.speaker, swapped.value.co_speakers) == ("steve-witkoff", ["rustem-umerov"])


def test_names_that_normalise_equal_are_kept_once_at_registration(app: ClaimsApplication) -> None:
    party = app.register_party(
        "kirill-dmitriev", "Kirill Dmitriev", "person", None,
        ["Dmitriev", "dmitriev", "Дмитриев", "Kirill DMITRIEV", "Dmitrijew"], meta(),
    ).value
    assert party.aliases == ["Dmitriev", "Dmitrijew"]
    assert app.resolve_party("Дмитриев").slug == "kirill-dmitriev"
    assert app.get_party("kirill-dmitriev").aliases == ["Dmitriev", "Dmitrijew"]


def test_an_alias_equal_to_an_own_name_or_alias_is_refused(parties: ClaimsApplication) -> None:
    for alias in ("peskow", "Peskov", "DMITRY PESKOV"):  # an alias, its Cyrillic twin, the name
        with pytest.raises(AliasTaken) as e:
            parties.add_alias("dmitry-peskov", alias, meta())
        assert "this party" in e.value.detail
    assert parties.get_party("dmitry-peskov").aliases == ["Peskow", "Песков"]


def test_an_update_may_respell_the_name_but_not_to_an_alias(parties: ClaimsApplication) -> None:
    party = parties.update_party("dmitry-peskov", {"name": "Dmitry PESKOV"}, "case", meta()).value
    assert party.name == "Dmitry PESKOV"
    with pytest.raises(AliasTaken):
        parties.update_party("dmitry-peskov", {"name": "Peskow"}, "promote", meta())
    assert parties.get_party("dmitry-peskov").name == "Dmitry PESKOV"
