"""Which positions shifted: for every (party, topic), the stance before the latest change, for the position board.

The same attribution as GET /v1/positions/history (a party's claims are those its members speak
or co-sign, merges followed), for every party at once: one query instead of one per party. It
reads every active claim interval (of one topic, when given), so its cost grows with them: meant
for a board, which shows them all anyway.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from projections.positions import _GRAPH, PositionsView

_LATEST = """,
attributed AS (
    SELECT DISTINCT a.ancestor AS party, c.topic, c.stance, c.stated_key, c.seq, c.claim
    FROM {{claim}} c CROSS JOIN LATERAL jsonb_array_elements_text(c.speakers) AS s(member)
    JOIN anc a ON a.member = s.member
    WHERE {conditions}),
ordered AS (
    SELECT party, topic, stance, lag(stance) OVER w AS previous,
           row_number() OVER (PARTITION BY party, topic ORDER BY stated_key DESC, seq DESC) AS latest
    FROM attributed WINDOW w AS (PARTITION BY party, topic ORDER BY stated_key, seq))
SELECT party, topic, stance, previous FROM ordered WHERE latest = 1
"""


def latest_changes(
    view: PositionsView, *, topic: str | None = None, as_of: datetime | None = None, at: datetime | None = None,
) -> dict[tuple[str, str], str | None]:
    """(party, topic) → the stance its position had before the latest change (None: the first one)."""
    when = "sys_to IS NULL" if as_of is None else "sys_from <= %(as_of)s AND (sys_to IS NULL OR sys_to > %(as_of)s)"
    conditions = ["c.active", when.replace("sys_", "c.sys_")]
    if at is not None:
        conditions.append("c.stated_key <= %(at)s")
    if topic is not None:
        conditions.append("c.topic = %(topic)s")
    query = view.q(_GRAPH.format(when=when) + _LATEST.format(conditions=" AND ".join(conditions)))
    with view.datastore.transaction(commit=False) as curs:
        rows: list[dict[str, Any]] = curs.execute(query, {"topic": topic, "as_of": as_of, "at": at}).fetchall()
    return {(row["party"], row["topic"]): row["previous"] for row in rows}
