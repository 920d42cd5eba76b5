"""The positions view's SQL and row shapes, read top to bottom (``positions.py`` runs them).

Every query is one ``WITH RECURSIVE`` statement built by ``with_graph``: the party graph's CTEs,
then those of the read, then its SELECT. Templates are ``psycopg.sql`` throughout: ``{claim}``,
``{party}``, ``{current}`` are the view's tables (``View.q``), other ``{names}`` are fragments
passed by name. Rows are read by column name (dict rows) or as the named tuples below.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from psycopg.sql import SQL, Composed, Identifier

CLAIM_COLUMNS = (
    "claim", "opened", "seq", "topic", "speakers", "speaker", "stance", "raw_position", "text",
    "stated_at", "stated_key", "active", "sys_from", "sys_to",
)
PARTY_COLUMNS = ("party", "stream", "opened", "affiliation", "merged_into", "sys_from", "sys_to")


class Winner(NamedTuple):
    """A position as ``current`` holds it: what ranks it (stated_key, seq), the claim interval, what a read shows."""

    stated_key: datetime
    seq: int
    claim: UUID
    opened: int
    stance: str
    position: str
    speaker: str
    stated_at: str
    updated_at: datetime

    @classmethod
    def of(cls, row: dict[str, Any]) -> Winner:
        return cls(**{name: row[name] for name in cls._fields})

    @property
    def rank(self) -> tuple[datetime, int]:
        """Later wins: by stated_at, then by recording."""
        return self.stated_key, self.seq


class Current(NamedTuple):
    """A row of ``current``: a party's position on a topic now, and the number of claims behind it."""

    party: str
    topic: str
    claims: int
    winner: Winner

    def copy_row(self) -> tuple[Any, ...]:
        return (*self.winner, self.party, self.topic, self.claims)


CURRENT_COLUMNS = (*Winner._fields, "party", "topic", "claims")  # in Current.copy_row's order


class Counted(NamedTuple):
    """What an open claim interval adds to ``current``: its topic, its speakers and the position it shows."""

    topic: str
    speakers: tuple[str, ...]
    winner: Winner


def with_graph(ctes: Sequence[str], select: str) -> str:
    """One statement: ``WITH RECURSIVE`` the party graph's CTEs and ``ctes``, then ``select``."""
    return "WITH RECURSIVE\n" + ",\n".join([*GRAPH, *ctes]) + "\n" + select


def column_list(columns: Sequence[str]) -> Composed:
    return SQL(", ").join(Identifier(c) for c in columns)


def all_of(conditions: Sequence[str]) -> Composed:
    return SQL(" AND ").join(SQL(c) for c in conditions)


# The party graph as recorded at as_of ({when}: "sys_to IS NULL" now, or an interval test):
# ``anc`` pairs each party (a merged one under its survivor) with every party it counts for,
# itself included. It is small (a row per party and ancestor), unlike the claims.
GRAPH = (
    """parties AS MATERIALIZED (
    SELECT party, affiliation, merged_into FROM {party} WHERE {when})""",
    """canon(party, survivor) AS (
    SELECT party, party FROM parties WHERE merged_into IS NULL
    UNION
    SELECT p.party, c.survivor FROM parties p JOIN canon c ON p.merged_into = c.party)""",
    """anc(member, ancestor) AS MATERIALIZED (
    SELECT party, survivor FROM canon
    UNION
    SELECT a.member, c.survivor FROM anc a
    JOIN parties p ON p.party = a.ancestor JOIN canon c ON c.party = p.affiliation)""",
)
NOW = "sys_to IS NULL"
AS_OF = "sys_from <= %(as_of)s AND (sys_to IS NULL OR sys_to > %(as_of)s)"

# The claims a read counts ({columns} of them): the active ones matching {conditions}, for
# every party; or for one, those its members speak (the speaker index) and those they co-sign
# (the co-speakers index), each once.
CLAIMS = """claims AS (SELECT {columns} FROM {claim} WHERE {conditions})"""
PARTY_CLAIMS = (
    """members AS MATERIALIZED (SELECT ARRAY(SELECT member FROM anc WHERE ancestor = %(party)s) AS m)""",
    """claims AS (SELECT {columns} FROM {claim} WHERE {conditions}
    AND speaker = ANY((SELECT m FROM members)::text[])
  UNION ALL SELECT {columns} FROM {claim} WHERE {conditions}
    AND jsonb_array_length(speakers) > 1 AND (speakers - 0) ?| (SELECT m FROM members)::text[]
    AND speaker <> ALL((SELECT m FROM members)::text[]))""",
)

# Every party's position on every topic from the claims in ``claims``, without fanning each
# claim out to its parties: the claims are first folded per topic and set of speakers (their
# number, and the latest of them; read from the _sets index alone), and only these sets are
# attributed, once per party any of their speakers counts for. Its cost grows with a topic's
# claims (figures: docs/performance.md): reads now use ``current`` instead, kept by the
# projection; reads with as_of or at run this.
BEST = (
    """sets AS (
    SELECT DISTINCT ON (topic, speakers) topic, speakers, claim, opened, stated_key, seq,
           count(*) OVER (PARTITION BY topic, speakers) AS n
    FROM claims ORDER BY topic, speakers, stated_key DESC, seq DESC)""",
    """attributed AS (
    SELECT DISTINCT a.ancestor AS party, s.topic, s.speakers, s.n, s.claim, s.opened, s.stated_key, s.seq
    FROM sets s CROSS JOIN LATERAL jsonb_array_elements_text(s.speakers) AS m(member)
    JOIN anc a ON a.member = m.member)""",
    """best AS (
    SELECT DISTINCT ON (party, topic) party, topic, claim, opened, stated_key, seq,
           sum(n) OVER (PARTITION BY party, topic) AS claims
    FROM attributed ORDER BY party, topic, stated_key DESC, seq DESC)""",
)
BY_SETS = """SELECT b.party, b.topic, c.stance, coalesce(c.raw_position, c.text) AS position, c.claim, c.speaker,
       c.stated_at, b.claims::bigint AS claims, c.sys_from AS updated_at
FROM best b JOIN {claim} c ON c.claim = b.claim AND c.opened = b.opened
ORDER BY b.party, b.topic"""

# One party: the claims of its members (as speaker, or as co-speaker) count for it once each.
# The winners are picked on narrow rows; only theirs are read in full.
ONE_PARTY_BEST = """best AS (
    SELECT DISTINCT ON (topic) topic, claim, opened, count(*) OVER (PARTITION BY topic) AS claims
    FROM claims ORDER BY topic, stated_key DESC, seq DESC)"""
ONE_PARTY = """SELECT %(party)s::text AS party, b.topic, c.stance, coalesce(c.raw_position, c.text) AS position,
       c.claim, c.speaker, c.stated_at, b.claims, c.sys_from AS updated_at
FROM best b JOIN {claim} c ON c.claim = b.claim AND c.opened = b.opened
ORDER BY b.topic"""

HISTORY = """SELECT %(party)s::text AS party, topic, stance, coalesce(raw_position, text) AS position, claim,
       speaker, stated_at, sys_from AS recorded_at, coalesce(stance <> lag(stance) OVER w, false) AS shift,
       lag(stance) OVER w AS previous_stance
FROM claims WINDOW w AS (ORDER BY stated_key, seq) ORDER BY stated_key, seq"""

# Each party's position on each topic now, for the table ``current`` (party, topic): the winner
# and the number of claims, as BY_SETS picks them. Computed whole after a bulk build and when
# the party graph changes; kept row by row as claims come and go otherwise.
OPEN_CLAIMS = """claims AS (
    SELECT claim, opened, topic, speakers, stated_key, seq FROM {claim} WHERE active AND sys_to IS NULL)"""
FILL_CURRENT = """INSERT INTO {current} ({columns})
SELECT b.stated_key, b.seq, b.claim, b.opened, c.stance, coalesce(c.raw_position, c.text), c.speaker, c.stated_at,
       c.sys_from, b.party, b.topic, b.claims
FROM best b JOIN {claim} c ON c.claim = b.claim AND c.opened = b.opened"""

# The latest active claim of each given (party, topic) pair: its members' own claims (speaker
# index), then those they co-signed (co-speakers index), newest first.
PAIRS = (
    """pairs AS (SELECT * FROM unnest(%(parties)s::text[], %(topics)s::text[]) AS p(party, topic))""",
    """members AS (SELECT p.party, p.topic, array_agg(a.member) AS m FROM pairs p JOIN anc a ON a.ancestor = p.party
            GROUP BY p.party, p.topic)""",
)
WINNERS = """SELECT mb.party, mb.topic, c.stated_key, c.seq, c.claim, c.opened, c.stance,
       coalesce(c.raw_position, c.text) AS position, c.speaker, c.stated_at, c.sys_from AS updated_at
FROM members mb CROSS JOIN LATERAL (
    (SELECT claim, opened, stated_key, seq FROM {claim} WHERE topic = mb.topic AND active AND sys_to IS NULL
       AND speaker = ANY(mb.m) ORDER BY stated_key DESC, seq DESC LIMIT 1)
    UNION ALL
    (SELECT claim, opened, stated_key, seq FROM {claim} WHERE topic = mb.topic AND active AND sys_to IS NULL
       AND jsonb_array_length(speakers) > 1 AND (speakers - 0) ?| mb.m ORDER BY stated_key DESC, seq DESC LIMIT 1)
    ORDER BY stated_key DESC, seq DESC LIMIT 1) AS w
JOIN {claim} c ON c.claim = w.claim AND c.opened = w.opened"""

CURRENT_NOW = """SELECT party, topic, stance, position, claim, speaker, stated_at, claims, updated_at
FROM {current} WHERE {conditions} ORDER BY party, topic"""

# What picking positions needs of a claim: for a party; for every party (whose speakers count for whom).
NARROW = ("claim", "opened", "topic", "stated_key", "seq")
NARROW_SETS = ("claim", "opened", "topic", "speakers", "stated_key", "seq")
