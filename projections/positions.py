"""The positions read model, bitemporal: each claim's and each party's states as intervals of system time.

A party's position on a topic comes from the latest (by stated_at, then by recording)
active claim on that topic whose speaker or co-speaker is the party, or a party affiliated
with it through any chain; a merged party's claims count for the party it was merged into.
``as_of`` (system time) picks the intervals recorded by then; ``at`` (valid time) keeps the
statements made by then. Both are answered from the stored intervals, never by replaying events.

The SQL, and the row shapes it answers, are in ``positions_queries.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod
from psycopg import Cursor
from psycopg.sql import SQL, Composable
from psycopg.types.json import Jsonb

from domain.claim import Claim
from domain.party import Party
from projections.claims import stated_key
from projections.positions_queries import (
    AS_OF, BEST, BY_MEMBERS, BY_SETS, CLAIM_COLUMNS, CLAIMS, CURRENT_COLUMNS, CURRENT_NOW, CURRENT_PRIORS, FILL_CURRENT,
    HISTORY, LATEST_CHANGES, LATEST_HISTORY, NARROW, NOW, ONE_PARTY, ONE_PARTY_BEST, OPEN_CLAIMS, PAIRS, PARTY_CLAIMS,
    PARTY_COLUMNS, PRIOR_STANCES, PRIORS, WINNERS, Counted, Current, Prior, Winner, all_of, column_list, with_graph,
)
from projections.view import BatchProjection, View, topics_of

class PositionsView(View):
    name = "positions"
    tables = {
        "claim": [
            "CREATE TABLE IF NOT EXISTS {t} ("
            " claim uuid NOT NULL, opened bigint NOT NULL, seq bigint NOT NULL, topic text NOT NULL,"
            " speakers jsonb NOT NULL, speaker text NOT NULL, stance text NOT NULL, raw_position text, text text NOT NULL,"
            " stated_at text NOT NULL, stated_key timestamptz NOT NULL, active boolean NOT NULL,"
            " sys_from timestamptz NOT NULL, sys_to timestamptz, PRIMARY KEY (claim, opened))",
            "CREATE INDEX IF NOT EXISTS {i}_open_claim ON {t} (claim) WHERE sys_to IS NULL",
            # The reads pick intervals (active, sys_from, sys_to) and winners (stated_key, seq) from
            # these two indexes alone, without visiting the table: a topic's claims per set of
            # speakers, latest first; a speaker's claims per topic, latest first.
            "DEFER CREATE INDEX IF NOT EXISTS {i}_sets ON {t} (topic, speakers, stated_key DESC, seq DESC)"
            " INCLUDE (claim, opened, active, sys_from, sys_to)",
            "DEFER CREATE INDEX IF NOT EXISTS {i}_speaker ON {t} (speaker, topic, stated_key DESC, seq DESC)"
            " INCLUDE (claim, opened, active, sys_from, sys_to)",
            # A topic's claims with one speaker, per speaker, latest first; those with several,
            # latest first (reads with as_of or at: BY_MEMBERS in positions_queries.py).
            "DEFER CREATE INDEX IF NOT EXISTS {i}_solo ON {t} (topic, speaker, stated_key DESC, seq DESC)"
            " INCLUDE (claim, opened, active, sys_from, sys_to) WHERE jsonb_array_length(speakers) = 1",
            "DEFER CREATE INDEX IF NOT EXISTS {i}_joint ON {t} (topic, stated_key DESC, seq DESC)"
            " INCLUDE (speakers, claim, opened, active, sys_from, sys_to) WHERE jsonb_array_length(speakers) > 1",
            # The claims with co-speakers (one in ten), by their co-speakers.
            "DEFER CREATE INDEX IF NOT EXISTS {i}_cospeakers ON {t} USING gin ((speakers - 0))"
            " WHERE jsonb_array_length(speakers) > 1",
            # Replaced by the ones above (views built before they existed).
            "DROP INDEX IF EXISTS {i}_open",
            "DROP INDEX IF EXISTS {i}_time",
        ],
        "party": [
            "CREATE TABLE IF NOT EXISTS {t} ("
            " party text NOT NULL, stream uuid NOT NULL, opened bigint NOT NULL, affiliation text, merged_into text,"
            " sys_from timestamptz NOT NULL, sys_to timestamptz, PRIMARY KEY (party, opened))",
            "CREATE INDEX IF NOT EXISTS {i}_open ON {t} (stream) WHERE sys_to IS NULL",
        ],
        # Each party's position on each topic now (no as_of, no at): kept by the projection, so
        # that reading it costs a row per position, however many claims are behind it.
        "current": [
            "CREATE TABLE IF NOT EXISTS {t} ("
            " party text NOT NULL, topic text NOT NULL, claims bigint NOT NULL, stated_key timestamptz NOT NULL,"
            " seq bigint NOT NULL, claim uuid NOT NULL, opened bigint NOT NULL, stance text NOT NULL,"
            " position text NOT NULL, speaker text NOT NULL, stated_at text NOT NULL, updated_at timestamptz NOT NULL,"
            " PRIMARY KEY (party, topic))",
            # The claim ranked just below the winner, if any: what the board marks a shift from.
            "ALTER TABLE {t} ADD COLUMN IF NOT EXISTS prior_stated_key timestamptz,"
            " ADD COLUMN IF NOT EXISTS prior_seq bigint, ADD COLUMN IF NOT EXISTS prior_claim uuid,"
            " ADD COLUMN IF NOT EXISTS prior_stance text",
            "DEFER CREATE INDEX IF NOT EXISTS {i}_topic ON {t} (topic)",
        ],
    }

    def create_table(self) -> None:
        """The tables; and ``current`` filled from the claims if it is new beside older claims, or older than
        its ``prior`` columns (an upgrade)."""
        older = self._current_without_prior()
        super().create_table()
        with self.datastore.transaction(commit=True) as curs:
            self.lock_current(curs)
            empty = curs.execute(self.q("SELECT NOT EXISTS (SELECT 1 FROM {current}) AS empty")).fetchone()
            if empty["empty"] or older:
                self.fill_current(curs)

    def _current_without_prior(self) -> bool:
        """Whether ``current`` exists, made before it kept each position's prior (to be filled again)."""
        with self.datastore.transaction(commit=False) as curs:
            row = curs.execute(
                "SELECT to_regclass(%(table)s) IS NOT NULL AS made, EXISTS (SELECT 1 FROM information_schema.columns"
                " WHERE table_schema = %(schema)s AND table_name = %(name)s AND column_name = 'prior_claim') AS prior",
                {"table": f"{self.datastore.schema}.{self.table_name('current')}", "schema": self.datastore.schema,
                 "name": self.table_name("current")}).fetchone()
        return bool(row["made"] and not row["prior"])

    def create_deferred_indexes(self) -> None:
        """After a bulk build: ``current`` at once from the claims (it is not kept while building), the indexes."""
        with self.datastore.transaction(commit=True) as curs:
            self.fill_current(curs)
        super().create_deferred_indexes()

    def lock_current(self, curs: Cursor[Any]) -> None:
        """Until the transaction ends, be the only one filling or moving ``current`` (a process starting up
        fills an empty one while another's projection may be moving it)."""
        curs.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.table_name("current"),))

    def fill_current(self, curs: Cursor[Any]) -> None:
        """Every party's position on every topic now, into ``current`` (emptied first)."""
        self.lock_current(curs)
        curs.execute(self.q("DELETE FROM {current}"))
        fill = with_graph([OPEN_CLAIMS, *BEST], FILL_CURRENT)
        curs.execute(self.q(fill, when=SQL(NOW), columns=column_list(CURRENT_COLUMNS)))

    def winners(
        self, curs: Cursor[Any], pairs: list[tuple[str, str]],
    ) -> dict[tuple[str, str], tuple[Winner, Prior | None]]:
        """The latest active claim of each (party, topic) pair, and the one before it (None if it has one claim)."""
        params = {"parties": [p for p, _ in pairs], "topics": [t for _, t in pairs]}
        rows = curs.execute(self.q(with_graph(PAIRS, WINNERS), when=SQL(NOW)), params).fetchall()
        found = {(r["party"], r["topic"]): (Winner.of(r), None) for r in rows if r["place"] == 1}
        for r in rows:
            if r["place"] == 2:
                found[r["party"], r["topic"]] = (found[r["party"], r["topic"]][0], Prior.behind(Winner.of(r)))
        return found

    def priors(
        self, *, topic: str | None = None, as_of: datetime | None = None, at: datetime | None = None,
        parties: Sequence[str] | None = None,
    ) -> dict[tuple[str, str], str]:
        """(party, topic) → the stance of the claim before its position's latest (the board's shift marks).

        Pairs whose position rests on one claim are left out. Now, ``current`` keeps them; as of a
        time or as said by a time, they are picked on the indexes as the positions themselves are.
        ``parties``: theirs only.
        """
        if as_of is None and at is None:
            where = _now_conditions(topic=topic, parties=parties)
            with self.datastore.transaction(commit=False) as curs:
                rows = curs.execute(self.q(CURRENT_PRIORS, conditions=all_of(where)),
                                    {"topic": topic, "parties": parties}).fetchall()
        else:
            rows = self._read(PRIORS, PRIOR_STANCES, SQL("*"), None, topic, as_of, at, claims=[])
            if parties is not None:
                chosen = set(parties)
                rows = [row for row in rows if row["party"] in chosen]
        return {(row["party"], row["topic"]): row["prior"] for row in rows}

    def held(self, *, topic: str | None = None) -> dict[str, list[str]]:
        """Each party with a position now → the topics it has one on (of ``topic``): a board's layout."""
        query = "SELECT party, array_agg(topic) AS topics FROM {current} WHERE {conditions} GROUP BY party"
        with self.datastore.transaction(commit=False) as curs:
            rows = curs.execute(self.q(query, conditions=all_of(_now_conditions(topic=topic))), {"topic": topic})
            return {row["party"]: row["topics"] for row in rows.fetchall()}

    def ancestors(self, curs: Cursor[Any], members: list[str]) -> dict[str, list[str]]:
        """The parties each of ``members`` counts for now (itself, or its survivor, and up its affiliations)."""
        query = self.q(with_graph([], "SELECT member, ancestor FROM anc WHERE member = ANY(%s)"), when=SQL(NOW))
        found: dict[str, list[str]] = {}
        for row in curs.execute(query, (members,)).fetchall():
            found.setdefault(row["member"], []).append(row["ancestor"])
        return found

    def positions(  # noqa: PLR0913
        self, *, party: str | None = None, topic: str | None = None,
        as_of: datetime | None = None, at: datetime | None = None,
        after: tuple[str, str] | None = None, limit: int | None = None, parties: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Each party's position on each topic (or the ones asked for), in (party, topic) order.

        ``after`` and ``limit`` page them: only those after that (party, topic), at most ``limit``.
        ``parties``: theirs only (positions now: what a board's page reads).
        """
        if parties is not None and (as_of is not None or at is not None):
            raise ValueError("parties: for positions now only (with as_of or at, every party's are computed)")
        page = SQL(" ORDER BY p.party, p.topic")
        params: dict[str, Any] = {"party": party, "topic": topic, "limit": limit}
        if after is not None:
            page = SQL(" WHERE (p.party, p.topic) > (%(after_party)s, %(after_topic)s)") + page
            params.update(after_party=after[0], after_topic=after[1])
        if limit is not None:
            page += SQL(" LIMIT %(limit)s")
        if as_of is None and at is None:
            where = _now_conditions(topic=topic, parties=parties)
            params["parties"] = parties
            if party is not None:
                where.append("party = %(party)s")
            if after is not None:  # a plain condition the (party, topic) key answers
                where.append("(party, topic) > (%(after_party)s, %(after_topic)s)")
            with self.datastore.transaction(commit=False) as curs:
                query = SQL("SELECT * FROM ({}) p").format(self.q(CURRENT_NOW, conditions=all_of(where))) + page
                return list(curs.execute(query, params).fetchall())
        if party is None:
            return self._read(BY_MEMBERS, BY_SETS, SQL("*"), party, topic, as_of, at, page, params, claims=[])
        return self._read([ONE_PARTY_BEST], ONE_PARTY, column_list(NARROW), party, topic, as_of, at, page, params)

    def history(
        self, *, party: str, topic: str, as_of: datetime | None = None, at: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Every change of a party's position on a topic, in stated_at order, shifts of stance marked."""
        return self._read([], HISTORY, SQL("*"), party, topic, as_of, at)

    def latest_history(self, *, party: str, latest: int) -> list[dict[str, Any]]:
        """A party's ``latest`` changes on each topic now, per topic in stated_at order, with the change before
        them where there is one (``back`` = latest + 1: for its stance) and each topic's number of ``changes``."""
        query = self.q(with_graph(LATEST_HISTORY, LATEST_CHANGES), when=SQL(NOW))
        with self.datastore.transaction(commit=False) as curs:
            return list(curs.execute(query, {"party": party, "latest": latest}).fetchall())

    def _read(  # noqa: PLR0913
        self, ctes: Sequence[str], select: str, columns: Composable, party: str | None, topic: str | None,
        as_of: datetime | None, at: datetime | None, page: Composable | None = None, extra: dict[str, Any] | None = None,
        claims: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Run ``ctes`` and ``select`` over ``claims``: the active claims as recorded at as_of, stated by at,
        of the party and topic (``{conditions}``, which ``ctes`` may also use on the table itself; given
        ``claims=[]``, they make no ``claims`` CTE of their own).

        Each filter adds its condition only when given, so that the planner sees plain
        conditions an index answers (never ``%(x)s IS NULL OR …``). A party's claims are those
        its members speak (the speaker index) and those they co-sign (the co-speakers index).
        """
        when = NOW if as_of is None else AS_OF
        where = ["active", when]
        if at is not None:
            where.append("stated_key <= %(at)s")
        if topic is not None:
            where.append("topic = %(topic)s")
        if claims is None:
            claims = [CLAIMS] if party is None else list(PARTY_CLAIMS)
        query = self.q(with_graph([*claims, *ctes], select), when=SQL(when), columns=columns, conditions=all_of(where))
        params = {**(extra or {}), "party": party, "topic": topic, "as_of": as_of, "at": at}
        if page is not None:
            query = SQL("SELECT * FROM ({}) p").format(query) + page
        with self.datastore.transaction(commit=False) as curs:
            return list(curs.execute(query, params).fetchall())


def _now_conditions(*, topic: str | None = None, parties: Sequence[str] | None = None) -> list[str]:
    """The conditions on ``current`` for a topic and some parties, each only when given (an index answers them)."""
    where = ["true"]
    if topic is not None:
        where.append("topic = %(topic)s")
    if parties is not None:
        where.append("party = ANY(%(parties)s::text[])")
    return where


def _counted(row: dict[str, Any]) -> Counted | None:
    """What an open claim interval adds to ``current``; None if it is inactive."""
    if not row["active"]:
        return None
    position = row["raw_position"] if row["raw_position"] is not None else row["text"]
    winner = Winner(stated_key=row["stated_key"], seq=row["seq"], claim=row["claim"], opened=row["opened"],
                    stance=row["stance"], position=position, speaker=row["speaker"], stated_at=row["stated_at"],
                    updated_at=row["sys_from"])
    return Counted(topic=row["topic"], speakers=tuple(row["speakers"]), winner=winner)


class PositionsProjection(BatchProjection[PositionsView]):
    """Closes the open interval of each claim or party an event changes, and opens the next."""

    name = "positions"
    topics = topics_of(
        Claim.ClaimAsserted, Claim.ClaimCorrected, Claim.ClaimRetracted, Claim.ClaimSuperseded,
        Party.PartyRegistered, Party.PartyUpdated, Party.PartyMerged,
    )

    def apply_batch(self, curs: Cursor[Any], events: Sequence[tuple[int, Any]]) -> None:
        self._open_claims: dict[UUID, dict[str, Any]] = {}
        self._open_parties: dict[UUID, dict[str, Any]] = {}
        self._closed: dict[str, list[dict[str, Any]]] = {"claim": [], "party": []}  # intervals to close
        self._new: dict[str, list[dict[str, Any]]] = {"claim": [], "party": []}
        self._load_open(curs, events)
        before = {claim: _counted(row) for claim, row in self._open_claims.items()}
        graph_changed = False
        for seq, event in events:
            self.apply(event, seq)
            graph_changed |= isinstance(event, Party.PartyMerged) or (
                isinstance(event, Party.PartyUpdated) and "affiliation" in event.changes)
        self._write(curs)
        if self.view.bulk:
            return  # a bulk build: ``current`` is computed whole at its end
        if graph_changed:  # who counts for whom has changed: every position may have (rare)
            self.view.fill_current(curs)
            return
        after = {claim: _counted(row) for claim, row in self._open_claims.items()}
        self._keep_current(curs, {c: (before.get(c), after[c]) for c in after if before.get(c) != after[c]})

    def _keep_current(self, curs: Cursor[Any], changed: dict[UUID, tuple[Counted | None, Counted | None]]) -> None:
        """Move ``current`` by the claims that started, stopped or changed counting: (before, after) each.

        A claim counts for the parties its speakers count for, on its topic, once each. Counts
        move by one; a new claim wins where it is later than the winner, and the winner becomes the
        prior; where the winner or the prior itself changed, both are looked up again (on the
        indexes, for that pair alone).
        """
        if not changed:
            return
        self.view.lock_current(curs)
        speakers = {s for states in changed.values() for state in states if state for s in state.speakers}
        ancestors = self.view.ancestors(curs, sorted(speakers))
        delta: dict[tuple[str, str], int] = {}
        candidates: dict[tuple[str, str], list[Winner]] = {}
        for old, new in changed.values():
            for state, step in ((old, -1), (new, 1)):
                if state is None:
                    continue
                topic = state.topic
                for party in {a for name in state.speakers for a in ancestors.get(name, ())}:
                    delta[party, topic] = delta.get((party, topic), 0) + step
                    if step == 1:
                        candidates.setdefault((party, topic), []).append(state.winner)
        pairs = sorted(delta)
        columns = ([p for p, _ in pairs], [t for _, t in pairs])
        rows = curs.execute(self.view.q(
            "SELECT c.* FROM {current} c JOIN unnest(%s::text[], %s::text[]) AS p(party, topic)"
            " ON c.party = p.party AND c.topic = p.topic"), columns).fetchall()
        current = {(r["party"], r["topic"]): r for r in rows}
        touched = set(changed)
        keep: dict[tuple[str, str], Current] = {}
        again: list[tuple[str, str]] = []
        for pair in pairs:
            row = current.get(pair)
            count = (row["claims"] if row else 0) + delta[pair]
            if count <= 0:
                continue
            if row is not None and (row["claim"] in touched or row["prior_claim"] in touched):
                again.append(pair)  # its winner or prior changed: look both up again
                continue
            # Neither the winner nor the prior held changed, so the two latest are among them and the new:
            # the winner the latest of the held winner and the new, the prior the next of those or the held prior.
            held = [] if row is None else [Winner.of(row)]
            best, *rest = sorted([*held, *candidates.get(pair, [])], key=lambda w: w.rank, reverse=True)
            behind = [Prior.behind(w) for w in rest[:1]]
            if row is not None and (prior := Prior.of(row)) is not None:
                behind.append(prior)
            keep[pair] = Current(*pair, claims=count, winner=best, prior=max(behind, key=lambda p: p.rank, default=None))
        if again:
            for pair, (winner, prior) in self.view.winners(curs, again).items():
                keep[pair] = Current(*pair, claims=current[pair]["claims"] + delta[pair], winner=winner, prior=prior)
        curs.execute(self.view.q(
            "DELETE FROM {current} c USING unnest(%s::text[], %s::text[]) AS p(party, topic)"
            " WHERE c.party = p.party AND c.topic = p.topic"), columns)
        if keep:
            copy_in = self.view.q("COPY {current} ({columns}) FROM STDIN", columns=column_list(CURRENT_COLUMNS))
            with curs.copy(copy_in) as copy:
                for position in keep.values():
                    copy.write_row(position.copy_row())

    def _load_open(self, curs: Cursor[Any], events: Sequence[tuple[int, Any]]) -> None:
        claims = list({e.originator_id for _, e in events if isinstance(e, Claim.Event)})
        parties = list({e.originator_id for _, e in events if isinstance(e, Party.Event)})
        if claims:
            query = self.view.q("SELECT * FROM {claim} WHERE claim = ANY(%s) AND sys_to IS NULL")
            self._open_claims = {row["claim"]: dict(row) for row in curs.execute(query, (claims,)).fetchall()}
        if parties:
            query = self.view.q("SELECT * FROM {party} WHERE stream = ANY(%s) AND sys_to IS NULL")
            self._open_parties = {row["stream"]: dict(row) for row in curs.execute(query, (parties,)).fetchall()}

    def _next(self, kind: str, opened: dict[UUID, dict[str, Any]], event: Any, seq: int, **changes: Any) -> None:
        """Close the open interval of the event's stream at the event's time; open one with ``changes``."""
        at = event.meta["recorded_at"]
        current = opened.get(event.originator_id)
        if current is None:
            return
        current["sys_to"] = at
        if current.get("_new") is None:
            key = current["claim"] if kind == "claim" else current["party"]
            self._closed[kind].append({"sys_to": at, "key": key, "opened": current["opened"]})
        row = {**current, **changes, "opened": seq, "sys_from": at, "sys_to": None, "_new": True}
        opened[event.originator_id] = row
        self._new[kind].append(row)

    @singledispatchmethod
    def apply(self, event: Any, seq: int) -> None:
        """Events that move no position (corroborations, disputes, aliases, names, topics)."""

    @apply.register(Claim.ClaimAsserted)
    def _(self, event: Any, seq: int) -> None:
        row = {
            "claim": event.originator_id, "opened": seq, "seq": seq, "topic": event.topic,
            "speakers": [event.speaker, *event.co_speakers], "speaker": event.speaker, "stance": event.stance,
            "raw_position": event.position, "text": event.text, "stated_at": event.stated_at,
            "stated_key": stated_key(event.stated_at), "active": True,
            "sys_from": event.meta["recorded_at"], "sys_to": None, "_new": True,
        }
        self._open_claims[event.originator_id] = row
        self._new["claim"].append(row)

    @apply.register(Claim.ClaimCorrected)
    def _(self, event: Any, seq: int) -> None:
        current = self._open_claims.get(event.originator_id)
        if current is None:
            return
        changes = dict(event.changes)
        moved = {k: v for k, v in changes.items() if k in ("topic", "stance", "text", "stated_at", "speaker")}
        if "position" in changes:
            moved["raw_position"] = changes["position"]
        if "stated_at" in changes:
            moved["stated_key"] = stated_key(changes["stated_at"])
        if "speaker" in changes or "co_speakers" in changes:
            speaker = changes.get("speaker", current["speaker"])
            co = changes.get("co_speakers", current["speakers"][1:])
            moved["speakers"] = [speaker, *co]
        if moved:
            self._next("claim", self._open_claims, event, seq, **moved)

    @apply.register(Claim.ClaimRetracted)
    @apply.register(Claim.ClaimSuperseded)
    def _(self, event: Any, seq: int) -> None:
        self._next("claim", self._open_claims, event, seq, active=False)

    @apply.register(Party.PartyRegistered)
    def _(self, event: Any, seq: int) -> None:
        row = {"party": event.slug, "stream": event.originator_id, "opened": seq, "affiliation": event.affiliation,
               "merged_into": None, "sys_from": event.meta["recorded_at"], "sys_to": None, "_new": True}
        self._open_parties[event.originator_id] = row
        self._new["party"].append(row)

    @apply.register(Party.PartyUpdated)
    def _(self, event: Any, seq: int) -> None:
        if "affiliation" in event.changes:
            self._next("party", self._open_parties, event, seq, affiliation=event.changes["affiliation"])

    @apply.register(Party.PartyMerged)
    def _(self, event: Any, seq: int) -> None:
        self._next("party", self._open_parties, event, seq, merged_into=event.into)

    def _write(self, curs: Cursor[Any]) -> None:
        view = self.view
        if self._closed["claim"]:
            curs.executemany(
                view.q("UPDATE {claim} SET sys_to = %(sys_to)s WHERE claim = %(key)s AND opened = %(opened)s"),
                self._closed["claim"])
        if self._closed["party"]:
            curs.executemany(
                view.q("UPDATE {party} SET sys_to = %(sys_to)s WHERE party = %(key)s AND opened = %(opened)s"),
                self._closed["party"])
        for kind, columns in (("claim", CLAIM_COLUMNS), ("party", PARTY_COLUMNS)):
            rows = self._new[kind]
            if not rows:
                continue
            copy_in = view.q("COPY {table} ({columns}) FROM STDIN", table=view.t(kind), columns=column_list(columns))
            with curs.copy(copy_in) as copy:
                for row in rows:
                    copy.write_row([Jsonb(row[c]) if c == "speakers" else row[c] for c in columns])
