"""The positions kept per (party, topic) for reads now equal those computed from the intervals.

``current`` is kept row by row as claims are recorded, corrected, retracted and superseded, and
recomputed when a merge or an affiliation changes who counts for whom. Reads with ``as_of``
compute positions from the stored intervals instead: with an ``as_of`` after everything, both
must give the same answer, position for position, count for count.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from api.pages.cells import histories_by_topic
from bench.synth import TOPICS, Generator
from tests.integration.conftest import caught_up

LATER = datetime(2100, 1, 1, tzinfo=UTC)  # after everything recorded: the intervals open now


def test_current_positions_equal_the_intervals_through_a_synthetic_log(live: Any) -> None:
    generator = Generator(live.app, 4_000, chunk=150, seed=5, say=lambda _: None)
    stats = generator.run()  # claims with co-speakers, corrections, retractions, supersessions, merges
    assert stats.follow_ups > 100 and stats.party_changes > 0
    caught_up(live, timeout=60)
    view = live.views["positions"]

    assert view.positions() == view.positions(as_of=LATER)
    for slug, _, _ in TOPICS[:10]:
        assert view.positions(topic=slug) == view.positions(topic=slug, as_of=LATER)
    states = [p.slug for p in generator.world.parties if p.kind == "state"][:8]
    people = [p.slug for p in generator.world.parties if p.kind == "person"][:8]
    for party in states + people:
        assert view.positions(party=party) == view.positions(party=party, as_of=LATER)
    assert len(view.positions()) > 100
    # The prior of each position (the board's shift marks) too: kept claim by claim, or computed.
    assert view.priors() == view.priors(as_of=LATER)
    assert view.priors(topic=TOPICS[0][0]) == view.priors(topic=TOPICS[0][0], as_of=LATER)
    assert len(view.priors()) > 100
    # A party page's latest changes per topic are the tail of its whole history there, shifts marked alike.
    cut = 0  # histories longer than what is shown: the case that matters
    for party in states + people:
        whole = histories_by_topic(view.history(party=party, topic=None))  # type: ignore[arg-type]
        cut += sum(len(rows) > 3 for rows in whole.values())
        latest = view.latest_history(party=party, latest=3)
        assert {row["topic"]: row["changes"] for row in latest} == {t: len(rows) for t, rows in whole.items()}
        tails = {t: [{k: c[k] for k in ("claim", "stance", "shift", "previous_stance")} for c in rows[-3:]]
                 for t, rows in whole.items()}
        assert {t: [{k: c[k] for k in ("claim", "stance", "shift", "previous_stance")} for c in rows]
                for t, rows in histories_by_topic(latest, latest=3).items()} == tails, party
    assert cut >= 5
