"""The chain's byte format (as docs/security.md gives it) and checkpoints, without a database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from adapters import checkpoint
from adapters.audit import GENESIS, canonical, link

DOCUMENTED = (
    "00000024" "3030303030303030" "2d30303030" "2d30303030" "2d30303030" "2d303030303030303030303031"
    "0000000000000001"
    "0000001f" "646f6d61696e2e746f7069633a546f7069632e546f706963446566696e6564"
    "00000002" "7b7d"
)


def test_canonical_bytes_and_first_hash_are_the_documented_ones() -> None:
    event = canonical("00000000-0000-0000-0000-000000000001", 1, "domain.topic:Topic.TopicDefined", b"{}")
    assert event.hex() == DOCUMENTED and len(event) == 89
    assert link(GENESIS, event, 1).hex() == "4b11a5d2d8f9d7eae57e23a9b964e41982693814712785ad5600469fb6c96b20"


def test_length_prefixes_keep_different_events_apart() -> None:
    assert canonical("a", 1, "bc", b"") != canonical("ab", 1, "c", b"")
    assert canonical("a", 1, None, b"") != canonical("a", 1, "", b"")


def test_a_checkpoint_checks_and_any_change_to_it_does_not() -> None:
    key = Ed25519PrivateKey.generate()
    made = checkpoint.make(key, 7, bytes(range(32)), datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert made["signed"] == f"claims-checkpoint\n7\n{bytes(range(32)).hex()}\n2026-01-02T03:04:05Z"
    assert checkpoint.check(made) == (7, bytes(range(32)))
    other = checkpoint.make(Ed25519PrivateKey.generate(), 7, bytes(range(32)))
    for forged in ({**made, "size": 8}, {**made, "public_key": other["public_key"]}, {**made, "head": "00"}, {}):
        with pytest.raises(checkpoint.CheckpointInvalid):
            checkpoint.check(forged)
