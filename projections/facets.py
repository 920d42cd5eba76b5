"""Facets of a claims search: how many of the matching claims each party, topic, status, kind and outlet has."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from projections.claims import ClaimsView

FACETS = ("party", "topic", "status", "kind", "outlet")
SAMPLE = 2_000  # facets count among the newest matches, at most this many (a search answers in bounded time)
TOP = 12  # values shown per facet


def facets(  # noqa: PLR0913
    view: ClaimsView, *, speaker: str | None = None, party_members: list[str] | None = None,
    about: str | None = None, topic: str | None = None, status: str | None = None, kind: str | None = None,
    q: str | None = None, stated_from: datetime | None = None, stated_to: datetime | None = None,
) -> dict[str, Any]:
    """Counts per value of each facet over the claims matching the filters (as ClaimsView.list filters them).

    ``sampled`` is True when more than SAMPLE claims match: the counts are then those of the newest SAMPLE.
    """
    filters = {"speaker": speaker, "party_members": party_members, "about": about, "topic": topic,
               "status": status, "kind": kind, "q": q, "stated_from": stated_from, "stated_to": stated_to}
    # The sample is found as a list's page is (on the indexes, newest first), then read by position.
    matches = ("SELECT speakers, topic, status, kind, doc->'source'->>'outlet' AS outlet FROM {claim}"
               " WHERE seq = ANY(%(sample)s)")
    query = view.q(
        f"WITH m AS MATERIALIZED ({matches}),"
        " counted AS ("
        " SELECT 'party' AS facet, s.value AS value, count(*) AS n FROM m, jsonb_array_elements_text(m.speakers) AS s"
        " GROUP BY s.value"
        " UNION ALL SELECT 'topic', topic, count(*) FROM m GROUP BY topic"
        " UNION ALL SELECT 'status', status, count(*) FROM m GROUP BY status"
        " UNION ALL SELECT 'kind', kind, count(*) FROM m GROUP BY kind"
        " UNION ALL SELECT 'outlet', outlet, count(*) FROM m WHERE outlet IS NOT NULL GROUP BY outlet)"
        " SELECT facet, value, n, (SELECT count(*) FROM m) AS total FROM counted ORDER BY facet, n DESC, value"
    )
    out: dict[str, Any] = {name: [] for name in FACETS}
    total = 0
    with view.datastore.transaction(commit=False) as curs:
        sample = view.newest(curs, limit=SAMPLE + 1, **filters)
        for row in curs.execute(query, {"sample": sample}).fetchall():
            total = row["total"]
            if len(out[row["facet"]]) < TOP:
                out[row["facet"]].append((row["value"], row["n"]))
    return {"facets": out, "sampled": total > SAMPLE, "total": min(total, SAMPLE)}
