"""The trial application `claims load` checks an input with: every rule against the store, nothing stored."""

from __future__ import annotations

import pytest

from adapters.dryrun import TrialApplication
from domain.application import ClaimsApplication
from domain.errors import PartyExists, UnknownParty
from tests.conftest import meta
from tests.unit.conftest import claim_fields


def test_a_trial_sees_the_store_and_its_own_writes_and_stores_nothing(parties: ClaimsApplication) -> None:
    head = parties.recorder.max_notification_id()
    trial = TrialApplication(parties)
    with pytest.raises(PartyExists):  # the store's parties are there
        trial.register_party("russia", "Russia", "state", None, [], meta())
    trial.register_party("sergey-lavrov", "Sergey Lavrov", "person", "russia", ["Lawrow"], meta())
    claim = trial.record_claim(claim_fields(speaker="Lawrow", topic="new-topic"), meta()).value  # its own party
    trial.correct_claim(claim.id, 1, {"stance": "mixed"}, "r", meta())
    assert trial.get_claim(claim.id).version == 2
    assert parties.recorder.max_notification_id() == head  # the store is as it was
    with pytest.raises(UnknownParty):
        parties.record_claim(claim_fields(speaker="Lawrow"), meta())
