"""The parties read model: registry, aliases, merges, and finding who a name may be."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from psycopg import Cursor
from psycopg.types.json import Jsonb

from domain.names import normalize_name
from domain.party import Party
from projections.view import BatchProjection, View, topics_of

# Spelling variants across transliterations (German w for v, j/y/ij for i, sch for sh, ...).
_VARIANTS = [
    (r"tsch", "ch"),
    (r"sch", "sh"),
    (r"zh", "sh"),
    (r"kh", "h"),
    (r"ck", "k"),
    (r"w", "v"),
    (r"ij|iy|yj|yi|ji|jj", "i"),
    (r"[jy]", "i"),
    (r"ie\b", "i"),
    (r"z", "s"),
    (r"(.)\1+", r"\1"),
]


def spelling_key(name: str) -> str:
    """A key under which transliteration variants of a name meet: Dmitrijew ~ Dmitriev, Selenskyj ~ Zelensky."""
    key = normalize_name(name)
    for pattern, replacement in _VARIANTS:
        key = re.sub(pattern, replacement, key)
    return key


def similarity(a: str, b: str) -> float:
    """How alike two spelling keys are, in [0, 1]: as wholes, or word by word in any order."""
    from difflib import SequenceMatcher

    whole = SequenceMatcher(None, a, b).ratio()
    words, others = a.split(), b.split()
    if not words or not others:
        return whole
    by_word = sum(max(SequenceMatcher(None, w, o).ratio() for o in others) for w in words) / len(words)
    return max(whole, by_word)


class PartiesView(View):
    name = "parties"
    tables = {
        "party": [
            "CREATE TABLE IF NOT EXISTS {t} ("
            " id text PRIMARY KEY, stream uuid NOT NULL UNIQUE, doc jsonb NOT NULL,"
            " affiliation text GENERATED ALWAYS AS (doc->>'affiliation') STORED,"
            " merged_into text GENERATED ALWAYS AS (doc->>'merged_into') STORED)",
            "CREATE INDEX IF NOT EXISTS {i}_affiliation ON {t} (affiliation)",
            "CREATE INDEX IF NOT EXISTS {i}_merged_into ON {t} (merged_into)",
        ],
        "name": [
            "CREATE TABLE IF NOT EXISTS {t} ("
            " party text NOT NULL, name text NOT NULL, normal text NOT NULL, spelling text NOT NULL,"
            " PRIMARY KEY (party, name))",
            # Hash indexes: a name normalised (emoji spelt out, ligatures expanded) may outgrow a
            # B-tree entry (2,704 bytes), which would stop the projection; a hash entry is 4 bytes.
            "DROP INDEX IF EXISTS {i}_normal",
            "DROP INDEX IF EXISTS {i}_spelling",
            "CREATE INDEX IF NOT EXISTS {i}_normal_hash ON {t} USING hash (normal)",
            "CREATE INDEX IF NOT EXISTS {i}_spelling_hash ON {t} USING hash (spelling)",
        ],
    }

    def get(self, party_id: str) -> dict[str, Any] | None:
        with self.datastore.transaction(commit=False) as curs:
            row = curs.execute(self.q("SELECT doc FROM {party} WHERE id = %s"), (party_id,)).fetchone()
        return row["doc"] if row else None

    def list(self, *, kind: str | None = None, include_merged: bool = True) -> list[dict[str, Any]]:
        where, params = ["true"], []
        if kind is not None:
            where.append("doc->>'kind' = %s")
            params.append(kind)
        if not include_merged:
            where.append("merged_into IS NULL")
        query = self.q(f"SELECT doc FROM {{party}} WHERE {' AND '.join(where)} ORDER BY id")
        with self.datastore.transaction(commit=False) as curs:
            return [row["doc"] for row in curs.execute(query, params).fetchall()]

    def members(self, party_id: str) -> list[str]:
        """The party, every party affiliated with it through any chain, and every party merged into one of those."""
        query = self.q(
            "WITH RECURSIVE members(id) AS ("
            " SELECT %s::text"
            " UNION SELECT p.id FROM {party} p JOIN members m ON p.affiliation = m.id OR p.merged_into = m.id)"
            " SELECT id FROM members"
        )
        with self.datastore.transaction(commit=False) as curs:
            return [row["id"] for row in curs.execute(query, (party_id,)).fetchall()]

    def resolve(self, name: str, limit: int = 10) -> list[dict[str, Any]]:
        """Who a name may be: candidates with a score in [0, 1], best first.

        1.0: the id, the name or an alias, compared normalised (any script, any case);
        0.9: the same spelling key (Dmitriew ~ Dmitrijew ~ Dmitriev); below: similar
        spelling keys (difflib's ratio), for typos and partial names.
        """
        normal, spelling = normalize_name(name), spelling_key(name)
        with self.datastore.transaction(commit=False) as curs:
            rows = curs.execute(self.q("SELECT party, name, normal, spelling FROM {name}")).fetchall()
        best: dict[str, dict[str, Any]] = {}
        for row in rows:
            if row["normal"] == normal or row["party"] == name:
                score = 1.0
            elif row["spelling"] == spelling:
                score = 0.9
            else:
                score = round(0.85 * similarity(spelling, row["spelling"]), 3)
                if score < 0.6:
                    continue
            current = best.get(row["party"])
            if current is None or score > current["score"]:
                best[row["party"]] = {"party": row["party"], "matched": row["name"], "score": score}
        ranked = sorted(best.values(), key=lambda c: (-c["score"], c["party"]))[:limit]
        names = {c["party"]: self.get(c["party"]) for c in ranked}
        for candidate in ranked:
            doc = names[candidate["party"]] or {}
            candidate["name"] = doc.get("name")
            candidate["merged_into"] = doc.get("merged_into")
        return ranked


class PartiesProjection(BatchProjection[PartiesView]):
    """Parties' documents and the names they go by."""

    name = "parties"
    topics = topics_of(Party.PartyRegistered, Party.PartyAliasAdded, Party.PartyUpdated, Party.PartyMerged)

    def apply_batch(self, curs: Cursor[Any], events: Sequence[tuple[int, Any]]) -> None:
        for _, event in events:
            self.apply(event, curs)

    @singledispatchmethod
    def apply(self, event: Any, curs: Cursor[Any]) -> None:
        """Events of other streams: nothing to do."""

    @apply.register(Party.PartyRegistered)
    def _(self, event: Any, curs: Cursor[Any]) -> None:
        at = event.meta["recorded_at"]
        doc = {
            "id": event.slug, "name": event.name, "kind": event.kind, "affiliation": event.affiliation,
            "aliases": list(event.aliases), "merged_into": None, "version": event.originator_version,
            "recorded_at": at, "updated_at": at,
        }
        curs.execute(
            self.view.q("INSERT INTO {party} (id, stream, doc) VALUES (%s, %s, %s)"),
            (event.slug, event.originator_id, Jsonb(doc)),
        )
        self._names(curs, event.slug, [event.slug, event.name, *event.aliases])

    @apply.register(Party.PartyAliasAdded)
    def _(self, event: Any, curs: Cursor[Any]) -> None:
        slug = self._update(curs, event, {}, append_alias=event.alias)
        self._names(curs, slug, [event.alias])

    @apply.register(Party.PartyUpdated)
    def _(self, event: Any, curs: Cursor[Any]) -> None:
        slug = self._update(curs, event, dict(event.changes))
        if "name" in event.changes:
            self._names(curs, slug, [event.changes["name"]])

    @apply.register(Party.PartyMerged)
    def _(self, event: Any, curs: Cursor[Any]) -> None:
        self._update(curs, event, {"merged_into": event.into})

    def _update(self, curs: Cursor[Any], event: Any, changes: dict[str, Any], append_alias: str | None = None) -> str:
        changes |= {"version": event.originator_version, "updated_at": event.meta["recorded_at"]}
        query = self.view.q(
            "UPDATE {party} SET doc = doc || %(changes)s"
            " || CASE WHEN %(alias)s::text IS NULL THEN '{{}}'::jsonb"
            " ELSE jsonb_build_object('aliases', (doc->'aliases') || to_jsonb(%(alias)s::text)) END"
            " WHERE stream = %(stream)s RETURNING id"
        )
        row = curs.execute(
            query, {"changes": Jsonb(changes), "alias": append_alias, "stream": event.originator_id}
        ).fetchone()
        return row["id"] if row else ""

    def _names(self, curs: Cursor[Any], slug: str, names: list[str]) -> None:
        curs.executemany(
            self.view.q(
                "INSERT INTO {name} (party, name, normal, spelling) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING"
            ),
            [(slug, n, normalize_name(n), spelling_key(n)) for n in dict.fromkeys(names)],
        )
