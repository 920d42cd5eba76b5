"""Positions with ``as_of`` and ``at`` equal what the contract's rule gives, worked out in Python from the intervals.

The read (``BY_MEMBERS`` in projections/positions_queries.py) counts claims per member and corrects
for joint claims counted twice; this test recomputes every position from the stored claim and
party intervals by the rule itself: the latest (by stated_at, then by recording) active claim,
recorded by as_of and stated by at, whose speaker or co-speaker is the party or counts for it
(merged into it, or affiliated with it through a chain), and the number of such claims, each
claim once however many of its speakers count for the party.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bench.synth import TOPICS, Generator
from tests.integration.conftest import caught_up


def _open(row: dict[str, Any], as_of: datetime | None) -> bool:
    if as_of is None:
        return row["sys_to"] is None
    return row["sys_from"] <= as_of and (row["sys_to"] is None or row["sys_to"] > as_of)


def _ancestors(parties: list[dict[str, Any]], as_of: datetime | None) -> dict[str, set[str]]:
    """Each party's survivor (itself unless merged) and that survivor's affiliations, up the chain."""
    rows = {p["party"]: p for p in parties if _open(p, as_of)}

    def survivor(name: str) -> str | None:
        seen = set()
        while name in rows and rows[name]["merged_into"] is not None and name not in seen:
            seen.add(name)
            name = rows[name]["merged_into"]
        return name if name in rows else None

    found: dict[str, set[str]] = {}
    for name in rows:
        chain: set[str] = set()
        at = survivor(name)
        while at is not None and at not in chain:
            chain.add(at)
            affiliation = rows[at]["affiliation"]
            at = survivor(affiliation) if affiliation is not None else None
        found[name] = chain
    return found


def _counted(claims: list[dict[str, Any]], parties: list[dict[str, Any]], *, topic: str | None,
             as_of: datetime | None, at: datetime | None,
             ) -> tuple[dict[tuple[str, str], list[dict[str, Any]]], dict[str, int]]:
    """Each (party, topic)'s claims by the rule; and how often a claim counted once for two of its speakers."""
    ancestors = _ancestors(parties, as_of)
    counted: dict[tuple[str, str], list[dict[str, Any]]] = {}
    cases = {"counted_once_for_two_speakers": 0}
    for claim in claims:
        if not (claim["active"] and _open(claim, as_of) and (at is None or claim["stated_key"] <= at)):
            continue
        if topic is not None and claim["topic"] != topic:
            continue
        per_speaker = [ancestors.get(s, set()) for s in claim["speakers"]]
        them = set().union(*per_speaker)
        cases["counted_once_for_two_speakers"] += sum(sum(p in a for a in per_speaker) > 1 for p in them)
        for party in them:
            counted.setdefault((party, claim["topic"]), []).append(claim)
    return counted, cases


def expected(claims: list[dict[str, Any]], parties: list[dict[str, Any]], *, topic: str | None,
             as_of: datetime | None, at: datetime | None) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The positions by the rule, in (party, topic) order; and how often the cases that matter occurred."""
    counted, cases = _counted(claims, parties, topic=topic, as_of=as_of, at=at)
    rows = []
    cases["winner_by_recording_among_ties"] = 0
    for (party, topic_), theirs in sorted(counted.items()):
        best = max(theirs, key=lambda c: (c["stated_key"], c["seq"]))
        cases["winner_by_recording_among_ties"] += sum(c["stated_key"] == best["stated_key"] for c in theirs) > 1
        rows.append({
            "party": party, "topic": topic_, "stance": best["stance"],
            "position": best["raw_position"] if best["raw_position"] is not None else best["text"],
            "claim": best["claim"], "speaker": best["speaker"], "stated_at": best["stated_at"],
            "claims": len(theirs), "updated_at": best["sys_from"],
        })
    return rows, cases


def expected_priors(claims: list[dict[str, Any]], parties: list[dict[str, Any]], *, topic: str | None,
                    as_of: datetime | None, at: datetime | None) -> dict[tuple[str, str], str]:
    """Each position's prior by the rule: the stance of the party's claim ranked just below the winner."""
    counted, _ = _counted(claims, parties, topic=topic, as_of=as_of, at=at)
    ranked = {pair: sorted(theirs, key=lambda c: (c["stated_key"], c["seq"]), reverse=True)
              for pair, theirs in counted.items()}
    return {pair: theirs[1]["stance"] for pair, theirs in ranked.items() if len(theirs) > 1}


def _instants(claims: Iterable[dict[str, Any]], rng: random.Random, n: int) -> list[datetime]:
    recorded = sorted(c["sys_from"] for c in claims)
    return [recorded[rng.randrange(len(recorded))] for _ in range(n)] + [recorded[-1]]


def test_positions_and_their_priors_as_of_and_at_follow_the_rule_through_a_synthetic_log(live: Any) -> None:
    generator = Generator(live.app, 4_000, chunk=150, seed=11, say=lambda _: None)
    stats = generator.run()  # co-speakers, corrections, retractions, supersessions, merges, affiliations
    assert stats.follow_ups > 100 and stats.party_changes > 0
    caught_up(live, timeout=60)
    view = live.views["positions"]
    with view.datastore.transaction(commit=False) as curs:
        claims = [dict(r) for r in curs.execute(view.q("SELECT * FROM {claim}")).fetchall()]
        parties = [dict(r) for r in curs.execute(view.q("SELECT * FROM {party}")).fetchall()]
    rng = random.Random(3)
    stated = sorted(c["stated_key"] for c in claims)
    topics = [None, *(slug for slug, _, _ in TOPICS[:6])]
    seen = {"counted_once_for_two_speakers": 0, "winner_by_recording_among_ties": 0, "shifted": 0}
    for as_of in _instants(claims, rng, 4):
        for at in [None, stated[len(stated) // 3], stated[-1]]:
            for topic in topics:
                want, cases = expected(claims, parties, topic=topic, as_of=as_of, at=at)
                for name, n in cases.items():
                    seen[name] += n
                got = view.positions(topic=topic, as_of=as_of, at=at)
                assert got == want, (topic, as_of, at)
                priors = expected_priors(claims, parties, topic=topic, as_of=as_of, at=at)
                assert view.priors(topic=topic, as_of=as_of, at=at) == priors, (topic, as_of, at)
                seen["shifted"] += sum(priors[p["party"], p["topic"]] != p["stance"] for p in want
                                       if (p["party"], p["topic"]) in priors)
    for at in [stated[len(stated) // 2], stated[-1]]:
        assert view.positions(at=at) == expected(claims, parties, topic=None, as_of=None, at=at)[0]
        assert view.priors(at=at) == expected_priors(claims, parties, topic=None, as_of=None, at=at)
    # Now, the priors ``current`` keeps (claim by claim as the log was applied) are the rule's too.
    assert view.priors() == expected_priors(claims, parties, topic=None, as_of=None, at=None)
    assert view.priors(topic=TOPICS[0][0]) == expected_priors(claims, parties, topic=TOPICS[0][0], as_of=None, at=None)
    # The cases the read handles apart were there to be checked.
    assert seen["counted_once_for_two_speakers"] > 0
    assert seen["winner_by_recording_among_ties"] > 0
    assert seen["shifted"] > 0
