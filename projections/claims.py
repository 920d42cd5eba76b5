"""The claims read model: every claim's current state, for lists, filters, text search and timelines."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.types.json import Jsonb

from domain.claim import CORRECTABLE, Claim
from eventsourcing.dispatch import singledispatchmethod
from projections.view import BatchProjection, View, topics_of

# German and English texts are stemmed in their language, the rest word by word.
_SEARCHED = {"text", "position", "language"}  # what the text search vector is made of


@lru_cache(maxsize=256)
def search_config(language: str) -> str:
    """The text search configuration for a BCP 47 language tag."""
    return {"de": "german", "en": "english"}.get(language.split("-")[0].lower(), "simple")


@lru_cache(maxsize=65_536)  # claims share their dates; a rebuild asks for the same ones again and again
def stated_key(stated_at: str) -> datetime:
    """The instant a claim's stated_at is ordered by: 00:00 UTC of a date given alone."""
    if len(stated_at) == 10:
        return datetime.combine(date.fromisoformat(stated_at), datetime.min.time(), UTC)
    return datetime.fromisoformat(stated_at)


class ClaimsView(View):
    name = "claims"
    tables = {
        "claim": [
            "CREATE TABLE IF NOT EXISTS {t} ("
            " id uuid PRIMARY KEY,"
            " seq bigint NOT NULL,"
            " stated_key timestamptz NOT NULL,"
            " doc jsonb NOT NULL,"
            " speakers jsonb GENERATED ALWAYS AS ((doc->'co_speakers') || (doc->'speaker')) STORED,"
            " topic text GENERATED ALWAYS AS (doc->>'topic') STORED,"
            " about text GENERATED ALWAYS AS (doc->>'about') STORED,"
            " status text GENERATED ALWAYS AS (doc->>'status') STORED,"
            " kind text GENERATED ALWAYS AS (doc->>'kind') STORED,"
            " search tsvector NOT NULL)",
            "DEFER CREATE UNIQUE INDEX IF NOT EXISTS {i}_seq ON {t} (seq)",
            "DEFER CREATE INDEX IF NOT EXISTS {i}_speakers ON {t} USING gin (speakers)",
            "DEFER CREATE INDEX IF NOT EXISTS {i}_topic ON {t} (topic, stated_key, seq)",
            "DEFER CREATE INDEX IF NOT EXISTS {i}_about ON {t} (about)",
            "DEFER CREATE INDEX IF NOT EXISTS {i}_search ON {t} USING gin (search)",
        ]
    }

    # -- reads ---------------------------------------------------------------------

    def list(  # noqa: PLR0913
        self,
        *,
        speaker: str | None = None,
        party_members: list[str] | None = None,
        about: str | None = None,
        topic: str | None = None,
        status: str | None = None,
        kind: str | None = None,
        q: str | None = None,
        stated_from: datetime | None = None,
        stated_to: datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Claims matching every filter given, newest recorded first, a page at a time.

        The cursor is the recording position of the last item shown: claims recorded
        meanwhile come before it and never shift a later page (keyset pagination).
        """
        where, params = ["true"], {}
        if speaker is not None:
            where.append("speakers ? %(speaker)s")
            params["speaker"] = speaker
        if party_members is not None:
            where.append("speakers ?| %(members)s")
            params["members"] = party_members
        for name, value in (("about", about), ("topic", topic), ("status", status), ("kind", kind)):
            if value is not None:
                where.append(f"{name} = %({name})s")
                params[name] = value
        if q:
            where.append(
                "search @@ (websearch_to_tsquery('german', %(q)s) || websearch_to_tsquery('english', %(q)s)"
                " || websearch_to_tsquery('simple', %(q)s))"
            )
            params["q"] = q
        if stated_from is not None:
            where.append("stated_key >= %(stated_from)s")
            params["stated_from"] = stated_from
        if stated_to is not None:
            where.append("stated_key <= %(stated_to)s")
            params["stated_to"] = stated_to
        if cursor is not None:
            where.append("seq < %(after)s")
            params["after"] = decode_cursor(cursor)
        params["limit"] = limit + 1
        query = self.q(f"SELECT seq, doc FROM {{claim}} WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT %(limit)s")
        with self.datastore.transaction(commit=False) as curs:
            rows = curs.execute(query, params).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1]["seq"]) if more and rows else None
        return [row["doc"] for row in rows], next_cursor

    def timeline(self, topic: str) -> list[dict[str, Any]]:
        """A topic's claims from all parties, in stated_at order (then recording order)."""
        query = self.q("SELECT doc FROM {claim} WHERE topic = %s ORDER BY stated_key, seq")
        with self.datastore.transaction(commit=False) as curs:
            return [row["doc"] for row in curs.execute(query, (topic,)).fetchall()]

    def count_by_speaker(self) -> dict[str, int]:
        """How many claims each party spoke or co-signed."""
        query = self.q(
            "SELECT s.party, count(*) AS n FROM {claim}, jsonb_array_elements_text(speakers) AS s(party)"
            " GROUP BY s.party"
        )
        with self.datastore.transaction(commit=False) as curs:
            return {row["party"]: row["n"] for row in curs.execute(query).fetchall()}


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The position a cursor stands for; ValueError if it is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        if kind != "seq":
            raise ValueError
        return int(value)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("not a cursor this service gave out") from None


class ClaimsProjection(BatchProjection[ClaimsView]):
    """Folds each batch's events into the claims they touch, then writes each claim once."""

    name = "claims"
    topics = topics_of(
        Claim.ClaimAsserted, Claim.ClaimCorrected, Claim.ClaimCorroborated,
        Claim.ClaimDisputed, Claim.ClaimRetracted, Claim.ClaimSuperseded,
    )

    def apply_batch(self, curs: Cursor[Any], events: Sequence[tuple[int, Any]]) -> None:
        claim_events = [(seq, e) for seq, e in events if isinstance(e, Claim.Event)]
        if not claim_events:
            return
        rows: dict[UUID, dict[str, Any]] = {}
        wanted = [e.originator_id for _, e in claim_events if not isinstance(e, Claim.ClaimAsserted)]
        if wanted:
            query = self.view.q("SELECT id, seq, doc FROM {claim} WHERE id = ANY(%s)")
            for row in curs.execute(query, (wanted,)).fetchall():
                rows[row["id"]] = {"seq": row["seq"], "doc": row["doc"], "stored": True}
        for seq, event in claim_events:
            self.fold(event, seq, rows)
        # Bulk: every touched claim goes by COPY into a scratch table, then one UPDATE for the
        # claims the view had and one INSERT for the new ones. A search vector is computed for
        # new claims and for those whose text, position or language changed, no others.
        curs.execute(
            "CREATE TEMP TABLE IF NOT EXISTS claims_rows (id uuid, seq bigint, stated_key timestamptz,"
            " doc jsonb, config regconfig, body text, stored boolean, dirty boolean) ON COMMIT DELETE ROWS"
        )
        with curs.copy("COPY claims_rows FROM STDIN") as copy:
            for cid, row in rows.items():
                copy.write_row((*self._row(cid, row), bool(row.get("stored")), bool(row.get("dirty"))))
        curs.execute(
            self.view.q(
                "UPDATE {claim} AS c SET stated_key = t.stated_key, doc = t.doc,"
                " search = CASE WHEN t.dirty THEN to_tsvector(t.config, t.body) ELSE c.search END"
                " FROM claims_rows AS t WHERE t.stored AND c.id = t.id"
            )
        )
        curs.execute(
            self.view.q(
                "INSERT INTO {claim} (id, seq, stated_key, doc, search)"
                " SELECT id, seq, stated_key, doc, to_tsvector(config, body) FROM claims_rows WHERE NOT stored"
            )
        )

    @staticmethod
    def _row(claim_id: UUID, row: dict[str, Any]) -> tuple[Any, ...]:
        doc = row["doc"]
        text = f"{doc['text']} {doc.get('position') or ''}"
        return claim_id, row["seq"], stated_key(doc["stated_at"]), Jsonb(doc), search_config(doc["language"]), text

    @singledispatchmethod
    def fold(self, event: Any, seq: int, rows: dict[UUID, dict[str, Any]]) -> None:
        """Change the claim's document (in ``rows``) as ``event`` says."""
        row = rows[event.originator_id]
        doc = row["doc"]
        self.change(event, doc)
        if isinstance(event, Claim.ClaimCorrected) and _SEARCHED.intersection(event.changes):
            row["dirty"] = True
        doc["version"] = event.originator_version
        doc["updated_at"] = event.meta["recorded_at"]

    @fold.register(Claim.ClaimAsserted)
    def _(self, event: Any, seq: int, rows: dict[UUID, dict[str, Any]]) -> None:
        at = event.meta["recorded_at"]
        rows[event.originator_id] = {
            "seq": seq,
            "doc": {
                "id": str(event.originator_id),
                "version": event.originator_version,
                **{name: getattr(event, name) for name in CORRECTABLE},
                "status": "active",
                "corroborations": [],
                "disputes": [],
                "superseded_by": None,
                "recorded_at": at,
                "updated_at": at,
            },
        }

    @singledispatchmethod
    def change(self, event: Any, doc: dict[str, Any]) -> None:
        """Events that change nothing the view shows."""

    @change.register(Claim.ClaimCorrected)
    def _(self, event: Any, doc: dict[str, Any]) -> None:
        doc.update(event.changes)

    @change.register(Claim.ClaimCorroborated)
    def _(self, event: Any, doc: dict[str, Any]) -> None:
        doc["corroborations"].append(
            {"by": event.by, "source": event.source, "note": event.note, "recorded_at": event.meta["recorded_at"]}
        )

    @change.register(Claim.ClaimDisputed)
    def _(self, event: Any, doc: dict[str, Any]) -> None:
        doc["disputes"].append(
            {
                "by": event.by,
                "source": event.source,
                "note": event.note,
                "counter_claim": event.counter_claim,
                "recorded_at": event.meta["recorded_at"],
            }
        )

    @change.register(Claim.ClaimRetracted)
    def _(self, event: Any, doc: dict[str, Any]) -> None:
        doc["status"] = "retracted"

    @change.register(Claim.ClaimSuperseded)
    def _(self, event: Any, doc: dict[str, Any]) -> None:
        doc["status"] = "superseded"
        doc["superseded_by"] = event.by_claim
