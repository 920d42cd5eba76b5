"""Claims that point at a claim: those it superseded (the supersession chain backwards), for the claim page."""

from __future__ import annotations

from typing import Any

from projections.claims import ClaimsView


def superseded_by(view: ClaimsView, claim_id: str) -> list[dict[str, Any]]:
    """The claims (documents) that ``claim_id`` superseded, in stated_at order.

    A supersession names the newer claim only in the older one's stream, so this reads the view,
    on the index of the superseded claims by what superseded them.
    """
    query = view.q(
        "SELECT doc FROM {claim} WHERE status = 'superseded' AND doc->>'superseded_by' = %s ORDER BY stated_key, seq"
    )
    with view.datastore.transaction(commit=False) as curs:
        return [row["doc"] for row in curs.execute(query, (claim_id,)).fetchall()]
