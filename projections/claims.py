"""The claims read model: every claim's current state, for lists, filters, text search and timelines."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.types.json import Jsonb

from domain.claim import CORRECTABLE, Claim
from eventsourcing.dispatch import singledispatchmethod
from projections import values
from projections.view import BatchProjection, View, topics_of

# German and English texts are stemmed in their language, the rest word by word.
_SEARCHED = {"text", "position", "language"}  # what the text search vector is made of


@lru_cache(maxsize=256)
def search_config(language: str) -> str:
    """The text search configuration for a BCP 47 language tag."""
    return {"de": "german", "en": "english"}.get(language.split("-")[0].lower(), "simple")


@lru_cache(maxsize=65_536)  # claims share their dates; a rebuild asks for the same ones again and again
def stated_key(stated_at: str) -> datetime:
    """The instant a claim's stated_at is ordered by, in UTC (00:00 UTC of a date given alone).

    In UTC because PostgreSQL takes offsets up to ±15:59 only, where ISO 8601 (and the API) allow ±23:59.
    """
    return values.utc_instant(stated_at)


# A page of the claims some parties spoke or co-signed (a party and its members, or one speaker),
# newest first, with a topic, status, kind, stated_at window and cursor besides ({rest}), in time
# that grows with the page and the number of members, not with the log. Claims with one speaker
# (nine in ten) are walked newest first per member, a page at most each, on an index that holds
# what the filters need (_solo); claims with several (_shared) are looked up on a GIN index, among
# those newer than the last of that page (if it is full), which the planner narrows by seq.
_SOLO = """
SELECT p.seq FROM unnest(%(members)s::text[]) AS m(member) CROSS JOIN LATERAL (
    SELECT seq FROM {{claim}} WHERE jsonb_array_length(speakers) = 1 AND speakers = jsonb_build_array(m.member)
      AND {rest} ORDER BY seq DESC LIMIT %(limit)s) AS p
ORDER BY p.seq DESC LIMIT %(limit)s
"""
_SHARED = """
SELECT seq FROM {{claim}} WHERE jsonb_array_length(speakers) > 1 AND speakers ?| %(members)s::text[]
  AND seq > %(floor)s AND {rest} ORDER BY seq DESC LIMIT %(limit)s
"""


RECENT = 5_000  # log positions a stated_at window is first looked for in, newest first
WALK = 20_000  # positions further that the matches found there may promise to walk through
SEARCHED = 50_000  # log positions a text search (q) is first looked for in, newest first


def _plain(params: dict[str, Any], **filters: Any) -> list[str]:
    """Conditions for the filters given (equal; stated_from/to: a window), their parameters added to ``params``."""
    where = []
    for name, value in filters.items():
        if value is not None:
            column, op = {"stated_from": ("stated_key", ">="), "stated_to": ("stated_key", "<=")}.get(name, (name, "="))
            where.append(f"{column} {op} %({name})s")
            params[name] = value
    return where


def filter_conditions(  # noqa: PLR0913
    params: dict[str, Any], *, speaker: str | None, party_members: list[str] | None, about: str | None,
    topic: str | None, status: str | None, kind: str | None, q: str | None,
    stated_from: datetime | None, stated_to: datetime | None,
) -> list[str]:
    """The conditions of a claims list's filters (GET /v1/claims), their parameters added to ``params``."""
    where = []
    if speaker is not None:
        where.append("speakers ? %(speaker)s")
        params["speaker"] = speaker
    if party_members is not None:
        where.append("speakers ?| %(members)s")
        params["members"] = party_members
    where += _plain(params, about=about, topic=topic, status=status, kind=kind,
                    stated_from=stated_from, stated_to=stated_to)
    if q:
        where.append(
            "search @@ (websearch_to_tsquery('german', %(q)s) || websearch_to_tsquery('english', %(q)s)"
            " || websearch_to_tsquery('simple', %(q)s))"
        )
        params["q"] = q
    return where


def _seqs(curs: Cursor[Any], query: Any, params: dict[str, Any]) -> list[int]:
    return [row["seq"] for row in curs.execute(query, params).fetchall()]


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
            # The claims of one speaker, newest first, with what else a list may filter them by
            # (read from the index alone); those of several speakers, by any of them (_SOLO, _SHARED).
            "DEFER CREATE INDEX IF NOT EXISTS {i}_solo ON {t} (speakers, seq) INCLUDE (topic, status, kind, stated_key)"
            " WHERE jsonb_array_length(speakers) = 1",
            "DEFER CREATE INDEX IF NOT EXISTS {i}_shared ON {t} USING gin (speakers)"
            " WHERE jsonb_array_length(speakers) > 1",
            # The planner estimates `speakers ?| members` from the most common speakers arrays. The
            # default hundred say little about a few hundred parties: at 1M events it guessed 40
            # claims where a state had 11,733, and read them all rather than walk the newest 4,000.
            "ALTER TABLE {t} ALTER COLUMN speakers SET STATISTICS 1000",
            # No query filters on the document itself (its fields have columns of their own):
            # ANALYZE would sort a sample of 300,000 of them (jsonb's comparison) for nothing.
            "ALTER TABLE {t} ALTER COLUMN doc SET STATISTICS 0",
            # A topic's claims in stated_at order (timelines; a stated_at window on a topic), with
            # what else a list may filter them by: read from the index alone.
            "DEFER CREATE INDEX IF NOT EXISTS {i}_topic_stated ON {t} (topic, stated_key, seq) INCLUDE (status, kind)",
            "DROP INDEX IF EXISTS {i}_topic",  # replaced by _topic_stated (views built before it existed)
            # A topic's claims newest first (a list by topic walks it, and stops after a page).
            "DEFER CREATE INDEX IF NOT EXISTS {i}_topic_seq ON {t} (topic, seq)",
            # A stated_at window, and the recording order of what it holds (read from the index alone).
            "DEFER CREATE INDEX IF NOT EXISTS {i}_stated ON {t} (stated_key, seq)",
            "DEFER CREATE INDEX IF NOT EXISTS {i}_about ON {t} (about)",
            "DEFER CREATE INDEX IF NOT EXISTS {i}_search ON {t} USING gin (search)",
            # The claims a claim superseded (its page lists them): the link is in the older claims alone.
            "DEFER CREATE INDEX IF NOT EXISTS {i}_superseded_by ON {t} ((doc->>'superseded_by'))"
            " WHERE status = 'superseded'",
            # Its values are near unique: statistics on them would tell the planner nothing more,
            # and a column list in ANALYZE (view.analyse) never gathers an expression's.
            "DEFER ALTER INDEX {s}.{i}_superseded_by ALTER COLUMN 1 SET STATISTICS 0",
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

        The page's positions are found first, on what the indexes answer, and only then are
        its documents read (a document is most of a claim's row).
        """
        with self.datastore.transaction(commit=False) as curs:
            seqs = self.newest(curs, limit=limit + 1, after=decode_cursor(cursor) if cursor is not None else None,
                               speaker=speaker, party_members=party_members, about=about, topic=topic, status=status,
                               kind=kind, q=q, stated_from=stated_from, stated_to=stated_to)
            rows = curs.execute(
                self.q("SELECT seq, doc FROM {claim} WHERE seq = ANY(%s) ORDER BY seq DESC"), (seqs,)
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1]["seq"]) if more and rows else None
        return [row["doc"] for row in rows], next_cursor

    def newest(  # noqa: PLR0913
        self, curs: Cursor[Any], *, limit: int, after: int | None = None, speaker: str | None = None,
        party_members: list[str] | None = None, about: str | None = None, topic: str | None = None,
        status: str | None = None, kind: str | None = None, q: str | None = None,
        stated_from: datetime | None = None, stated_to: datetime | None = None,
    ) -> list[int]:
        """The recording positions of the newest ``limit`` claims matching every filter (below ``after``), newest
        first: found on what the indexes answer, without reading a document."""
        params: dict[str, Any] = {"limit": limit}
        where = ["true"]
        if after is not None:
            where.append("seq < %(after)s")
            params["after"] = after
        if (speaker is None) != (party_members is None) and about is None and not q:
            params["members"] = party_members if party_members is not None else [speaker]
            rest = " AND ".join(where + _plain(params, topic=topic, status=status, kind=kind,
                                                stated_from=stated_from, stated_to=stated_to))
            seqs = _seqs(curs, self.q(_SOLO.format(rest=rest)), params)
            params["floor"] = seqs[-1] if len(seqs) == params["limit"] else 0
            return sorted(seqs + _seqs(curs, self.q(_SHARED.format(rest=rest)), params), reverse=True)[:limit]
        return self._filtered(curs, where, params, speaker=speaker, party_members=party_members, about=about,
                              topic=topic, status=status, kind=kind, q=q, stated_from=stated_from, stated_to=stated_to)

    def _filtered(  # noqa: PLR0913
        self, curs: Cursor[Any], where: list[str], params: dict[str, Any], *,
        speaker: str | None, party_members: list[str] | None, about: str | None, topic: str | None,
        status: str | None, kind: str | None, q: str | None, stated_from: datetime | None, stated_to: datetime | None,
    ) -> list[int]:
        """The page's positions under any filters: the planner picks the indexes, within limits set here."""
        where += filter_conditions(params, speaker=speaker, party_members=party_members, about=about, topic=topic,
                                   status=status, kind=kind, q=q, stated_from=stated_from, stated_to=stated_to)
        conditions = " AND ".join(where)
        if q and stated_from is None and stated_to is None and speaker is party_members is about is topic is None:
            # The GIN index gives a word's claims in no order: for a common word or phrase, all of
            # them (thousands) were visited on the table for their position, to keep the newest
            # page. Among the newest SEARCHED positions first, the planner ANDs the word's bitmap
            # with that range's (on the seq index) and visits only the claims in both; the older
            # ones are looked up only if that left the page short (a rarer word). Not with a party,
            # speaker or topic besides: their claims are too few among the newest (measured slower).
            return self._newest_first(curs, conditions, params, SEARCHED)
        if stated_from is None and stated_to is None:
            query = self.q(f"SELECT seq FROM {{claim}} WHERE {conditions} ORDER BY seq DESC LIMIT %(limit)s")
            return _seqs(curs, query, params)
        # A claim is stated shortly before it is recorded, so the claims of a stated_at window lie
        # in one band of recording positions. The planner assumes no such thing: it would walk the
        # seq index from the newest claim through most of the table, expecting matches all along.
        # So the newest RECENT positions are looked at first (a bounded walk). A window that
        # reaches the present is answered there, or by walking on as far as the matches found
        # promise; one that lies in the past (nothing found) is looked up on the indexes instead,
        # ordering by an expression no index gives so that the planner cannot walk.
        def older(found: int, wanted: int) -> str:
            walk = found > 0 and RECENT * wanted / found <= WALK
            return "seq" if walk else "seq + 0"

        return self._newest_first(curs, conditions, params, RECENT, older)

    def _newest_first(
        self, curs: Cursor[Any], conditions: str, params: dict[str, Any], band: int,
        older: Callable[[int, int], str] = lambda _found, _wanted: "seq",
    ) -> list[int]:
        """The page's positions among the newest ``band`` below its top first; the older ones only if
        that left the page short, ordered by ``older(found, wanted)`` (an ORDER BY expression)."""
        params["recent"] = self._top(curs, params) - band
        seqs = _seqs(curs, self.q(f"SELECT seq FROM {{claim}} WHERE {conditions} AND seq >= %(recent)s"
                                  " ORDER BY seq DESC LIMIT %(limit)s"), params)
        wanted = params["limit"] - len(seqs)
        if wanted > 0:
            seqs += _seqs(curs, self.q(f"SELECT seq FROM {{claim}} WHERE {conditions} AND seq < %(recent)s"
                                       f" ORDER BY {older(len(seqs), wanted)} DESC LIMIT %(limit)s"),
                          {**params, "limit": wanted})
        return seqs

    def _top(self, curs: Cursor[Any], params: dict[str, Any]) -> int:
        """The position a page's claims lie below: the cursor's, or one past the newest claim's."""
        if "after" in params:
            return int(params["after"])
        return int(curs.execute(self.q("SELECT coalesce(max(seq), 0) + 1 AS top FROM {claim}")).fetchone()["top"])

    def timeline(self, topic: str) -> list[dict[str, Any]]:
        """A topic's claims from all parties, in stated_at order (then recording order)."""
        return [doc for doc, _ in self.timeline_page(topic)]

    def timeline_page(
        self, topic: str, *, after: tuple[datetime, int] | None = None, limit: int | None = None
    ) -> list[tuple[dict[str, Any], tuple[datetime, int]]]:
        """A page of the timeline, each claim with its place: ``after`` a place given before, at most ``limit``.

        Read on the (topic, stated_key, seq) index.
        """
        return self._timeline(topic, after, limit, backwards=False)

    def timeline_before(
        self, topic: str, *, before: tuple[datetime, int] | None = None, limit: int = 100
    ) -> list[tuple[dict[str, Any], tuple[datetime, int]]]:
        """The ``limit`` claims of a topic just before a place (the latest, without one), in stated_at order.

        Read backwards on the (topic, stated_key, seq) index: a topic's page costs its claims shown, not all.
        """
        return self._timeline(topic, before, limit, backwards=True)[::-1]

    def _timeline(
        self, topic: str, place: tuple[datetime, int] | None, limit: int | None, *, backwards: bool
    ) -> list[tuple[dict[str, Any], tuple[datetime, int]]]:
        """A topic's claims with their places, beyond ``place`` (exclusive) forwards or backwards, at most ``limit``."""
        where, params = "topic = %(topic)s", {"topic": topic, "limit": limit}
        if place is not None:
            where += f" AND (stated_key, seq) {'<' if backwards else '>'} (%(key)s, %(seq)s)"
            params.update(key=place[0], seq=place[1])
        order = "stated_key DESC, seq DESC" if backwards else "stated_key, seq"
        query = self.q(f"SELECT doc, stated_key, seq FROM {{claim}} WHERE {where} ORDER BY {order}"
                       + (" LIMIT %(limit)s" if limit is not None else ""))
        with self.datastore.transaction(commit=False) as curs:
            return [(row["doc"], (row["stated_key"], row["seq"])) for row in curs.execute(query, params).fetchall()]

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
        if doc["facts"] and not values.all_finite(doc["facts"]):  # orjson would write null without a word
            raise values.NotStorable("facts: NaN or an infinity, which JSON cannot hold")
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
