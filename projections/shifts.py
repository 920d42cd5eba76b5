"""Which positions shifted: for every (party, topic), the stance before the latest change, for the position board.

The same attribution as GET /v1/positions/history (a party's claims are those its members speak
or co-sign, merges followed), for every party at once: one query instead of one per party. It
reads every active claim interval (of one topic, when given), so its cost grows with them: meant
for a board, which shows them all anyway.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.sql import SQL

from projections.positions import PositionsView
from projections.positions_queries import AS_OF, NOW, all_of, with_graph

ATTRIBUTED = """attributed AS (
    SELECT DISTINCT a.ancestor AS party, c.topic, c.stance, c.stated_key, c.seq, c.claim
    FROM {claim} c CROSS JOIN LATERAL jsonb_array_elements_text(c.speakers) AS s(member)
    JOIN anc a ON a.member = s.member
    WHERE {conditions})"""
ORDERED = """ordered AS (
    SELECT party, topic, stance, lag(stance) OVER w AS previous,
           row_number() OVER (PARTITION BY party, topic ORDER BY stated_key DESC, seq DESC) AS latest
    FROM attributed WINDOW w AS (PARTITION BY party, topic ORDER BY stated_key, seq))"""
LATEST = "SELECT party, topic, stance, previous FROM ordered WHERE latest = 1"


def latest_changes(
    view: PositionsView, *, topic: str | None = None, as_of: datetime | None = None, at: datetime | None = None,
) -> dict[tuple[str, str], str | None]:
    """(party, topic) → the stance its position had before the latest change (None: the first one)."""
    when = NOW if as_of is None else AS_OF
    conditions = ["c.active", when.replace("sys_", "c.sys_")]
    if at is not None:
        conditions.append("c.stated_key <= %(at)s")
    if topic is not None:
        conditions.append("c.topic = %(topic)s")
    query = view.q(with_graph([ATTRIBUTED, ORDERED], LATEST), when=SQL(when), conditions=all_of(conditions))
    with view.datastore.transaction(commit=False) as curs:
        rows: list[dict[str, Any]] = curs.execute(query, {"topic": topic, "as_of": as_of, "at": at}).fetchall()
    return {(row["party"], row["topic"]): row["previous"] for row in rows}
