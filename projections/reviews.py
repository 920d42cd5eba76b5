"""The reviews read model: every reviewer's current verdict on each claim, newest first.

A review row keeps the claim's id; a list filtered by topic or party joins the claims view
(which holds each claim's current topic and speakers), so a corrected claim is found under its
new topic without this view copying every claim. A reviewer's later verdict on the same claim
marks their earlier row as no longer current: lists show current verdicts, the claim's history
keeps them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.sql import Identifier
from psycopg.types.json import Jsonb

from domain.claim import Claim
from projections.claims import decode_cursor, encode_cursor
from projections.view import BatchProjection, View, topics_of


_NOT_ON_CLAIM = {"claim_id", "recorded_by"}  # a claim's own `reviews` (from its events) show neither


class ReviewsView(View):
    name = "reviews"
    tables = {
        "review": [
            "CREATE TABLE IF NOT EXISTS {t} ("
            " seq bigint PRIMARY KEY,"  # the ClaimReviewed event's log position
            " claim uuid NOT NULL,"
            " reviewer text NOT NULL,"
            " rating text NOT NULL,"
            " recorded_at timestamptz NOT NULL,"
            " current boolean NOT NULL,"
            " doc jsonb NOT NULL)",
            "CREATE INDEX IF NOT EXISTS {i}_claim ON {t} (claim, reviewer) WHERE current",
            "CREATE INDEX IF NOT EXISTS {i}_reviewer ON {t} (reviewer, seq) WHERE current",
            "CREATE INDEX IF NOT EXISTS {i}_current ON {t} (seq) WHERE current",
        ]
    }

    def list(  # noqa: PLR0913
        self,
        claims: Identifier,
        *,
        reviewer: str | None = None,
        rating: str | None = None,
        topic: str | None = None,
        party_members: list[str] | None = None,
        since: datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Current verdicts, newest first, each with its claim's document (``claims``: the claims view's table).

        ``party_members``: reviews of claims spoken or co-signed by any of them. The cursor is the
        position of the last review shown (ValueError if it is not one of ours).
        """
        where = ["r.current"]
        params: dict[str, Any] = {"limit": limit + 1}
        for column, name, value in (("r.reviewer", "reviewer", reviewer), ("r.rating", "rating", rating),
                                    ("c.topic", "topic", topic)):
            if value is not None:
                where.append(f"{column} = %({name})s")
                params[name] = value
        if since is not None:
            where.append("r.recorded_at >= %(since)s")
            params["since"] = since
        if party_members is not None:
            where.append("c.speakers ?| %(members)s")
            params["members"] = party_members
        if cursor is not None:
            where.append("r.seq < %(after)s")
            params["after"] = decode_cursor(cursor)
        query = self.q(
            "SELECT r.seq, r.doc, c.doc AS claim FROM {review} AS r JOIN {claims} AS c ON c.id = r.claim"
            f" WHERE {' AND '.join(where)} ORDER BY r.seq DESC LIMIT %(limit)s",
            claims=claims,
        )
        with self.datastore.transaction(commit=False) as curs:
            rows = curs.execute(query, params).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1]["seq"]) if more and rows else None
        return [{**row["doc"], "claim": row["claim"]} for row in rows], next_cursor

    def of_claims(self, claim_ids: list[UUID]) -> dict[str, list[dict[str, Any]]]:
        """The current verdicts on each of these claims (claim id -> reviews, oldest first), as a claim shows them."""
        query = self.q("SELECT claim, doc FROM {review} WHERE current AND claim = ANY(%s) ORDER BY seq")
        found: dict[str, list[dict[str, Any]]] = {}
        with self.datastore.transaction(commit=False) as curs:
            for row in curs.execute(query, (claim_ids,)).fetchall():
                doc = {k: v for k, v in row["doc"].items() if k not in _NOT_ON_CLAIM}
                found.setdefault(str(row["claim"]), []).append(doc)
        return found


class ReviewsProjection(BatchProjection[ReviewsView]):
    name = "reviews"
    topics = topics_of(Claim.ClaimReviewed)

    def apply_batch(self, curs: Cursor[Any], events: Sequence[tuple[int, Any]]) -> None:
        for seq, event in events:
            if isinstance(event, Claim.ClaimReviewed):
                self.reviewed(curs, seq, event)

    def reviewed(self, curs: Cursor[Any], seq: int, event: Any) -> None:
        """A verdict: it replaces the reviewer's current one on that claim."""
        doc = {
            "claim_id": str(event.originator_id),
            "by": event.by,
            "rating": event.rating,
            "note": event.note,
            "sources": event.sources,
            "version": event.originator_version,
            "recorded_at": event.meta["recorded_at"],
            "recorded_by": event.meta.get("recorded_by"),
        }
        curs.execute(
            self.view.q("UPDATE {review} SET current = false WHERE claim = %s AND reviewer = %s AND current"),
            (event.originator_id, event.by),
        )
        curs.execute(
            self.view.q(
                "INSERT INTO {review} (seq, claim, reviewer, rating, recorded_at, current, doc)"
                " VALUES (%s, %s, %s, %s, %s, true, %s)"
            ),
            (seq, event.originator_id, event.by, event.rating, event.timestamp, Jsonb(doc)),
        )
