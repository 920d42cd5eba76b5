"""Party rules: aliases, affiliations, merges, on the in-memory store."""

from __future__ import annotations

import pytest

from domain.application import ClaimsApplication
from domain.errors import (
    AliasTaken,
    InvalidAffiliation,
    InvalidMerge,
    PartyAlreadyMerged,
    PartyExists,
    PartyNotFound,
)
from tests.conftest import meta
from tests.unit.conftest import claim_fields


def test_party_id_is_unique(parties: ClaimsApplication) -> None:
    with pytest.raises(PartyExists):
        parties.register_party("russia", "Russian Federation", "state", None, [], meta())


def test_alias_in_another_script_collides_with_an_existing_alias(parties: ClaimsApplication) -> None:
    with pytest.raises(AliasTaken) as e:
        parties.register_party("someone", "Someone", "person", None, ["Peskov"], meta())  # Песков
    assert e.value.extra["party"] == "dmitry-peskov"
    with pytest.raises(AliasTaken):
        parties.add_alias("kirill-dmitriev", "PESKOW", meta())


def test_second_spelling_is_a_distinct_alias_of_the_same_party(app: ClaimsApplication) -> None:
    app.register_party("kirill-dmitriev", "Kirill Dmitriev", "person", None, ["Dmitrijew"], meta())
    party = app.add_alias("kirill-dmitriev", "Dmitriew", meta()).value
    assert party.aliases == ["Dmitrijew", "Dmitriew"]
    assert app.resolve_party("Кирилл Дмитриев").slug == "kirill-dmitriev"  # its name, in Cyrillic


def test_failed_registration_reserves_nothing(parties: ClaimsApplication) -> None:
    with pytest.raises(AliasTaken):
        parties.register_party("lavrov", "Sergey Lavrov", "person", None, ["Lawrow", "Peskow"], meta())
    parties.register_party("lavrov", "Sergey Lavrov", "person", None, ["Lawrow"], meta())


def test_affiliation_must_exist(app: ClaimsApplication) -> None:
    with pytest.raises(InvalidAffiliation) as e:
        app.register_party("kremlin", "Kremlin", "government", "russia", [], meta())
    assert e.value.field == "affiliation"
    with pytest.raises(PartyNotFound):
        app.get_party("kremlin")


def test_affiliation_never_forms_a_cycle(parties: ClaimsApplication) -> None:
    with pytest.raises(InvalidAffiliation) as e:
        parties.update_party("russia", {"affiliation": "dmitry-peskov"}, "test", meta())
    assert "cycle" in e.value.detail
    with pytest.raises(InvalidAffiliation):
        parties.update_party("russia", {"affiliation": "russia"}, "test", meta())


def test_merge_never_into_itself_a_merged_party_or_twice(parties: ClaimsApplication) -> None:
    m = meta()
    parties.register_party("k-dmitriev", "K. Dmitriev", "person", None, ["Dmitrijev"], m)
    parties.register_party("kirill-dmitriyev", "Kirill Dmitriyev", "person", None, [], m)
    with pytest.raises(InvalidMerge):
        parties.merge_party("k-dmitriev", "k-dmitriev", None, m)
    parties.merge_party("k-dmitriev", "kirill-dmitriev", "duplicate", m)
    with pytest.raises(PartyAlreadyMerged):
        parties.merge_party("k-dmitriev", "russia", None, m)
    with pytest.raises(InvalidMerge) as e:
        parties.merge_party("kirill-dmitriyev", "k-dmitriev", None, m)
    assert "merge into kirill-dmitriev" in e.value.detail


def test_names_of_a_merged_party_resolve_to_the_survivor(parties: ClaimsApplication) -> None:
    parties.register_party("k-dmitriev", "K. Dmitriev", "person", None, ["Dmitrijev"], meta())
    parties.merge_party("k-dmitriev", "kirill-dmitriev", "duplicate", meta())
    claim = parties.record_claim(claim_fields(about="Dmitrijev"), meta()).value
    assert claim.about == "kirill-dmitriev"
    assert parties.get_party("k-dmitriev").merged_into == "kirill-dmitriev"
