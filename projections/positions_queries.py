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


class Prior(NamedTuple):
    """The claim ranked just below a winner: the position before the latest change (a board's shift mark)."""

    stated_key: datetime
    seq: int
    claim: UUID
    stance: str

    @classmethod
    def of(cls, row: dict[str, Any]) -> Prior | None:
        """The prior a row of ``current`` holds (its ``prior_*`` columns), if any."""
        if row["prior_claim"] is None:
            return None
        return cls(**{name: row[f"prior_{name}"] for name in cls._fields})

    @classmethod
    def behind(cls, winner: Winner) -> Prior:
        return cls(winner.stated_key, winner.seq, winner.claim, winner.stance)

    @property
    def rank(self) -> tuple[datetime, int]:
        return self.stated_key, self.seq


NO_PRIOR = (None,) * len(Prior._fields)
PRIOR_COLUMNS = tuple(f"prior_{name}" for name in Prior._fields)


class Current(NamedTuple):
    """A row of ``current``: a party's position on a topic now, the number of claims behind it, and the one before."""

    party: str
    topic: str
    claims: int
    winner: Winner
    prior: Prior | None

    def copy_row(self) -> tuple[Any, ...]:
        return (*self.winner, self.party, self.topic, self.claims, *(self.prior or NO_PRIOR))


CURRENT_COLUMNS = (*Winner._fields, "party", "topic", "claims", *PRIOR_COLUMNS)  # in Current.copy_row's order


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

# Every party's position on every topic from the claims in ``claims``, and the claim ranked just
# below it (``prior``: the position before the latest change), without fanning each claim out to its
# parties: the claims are first folded per topic and set of speakers (their number, and the latest two
# of them), and only these sets are attributed, once per party any of their speakers counts for. A
# party's two latest claims are among the two latest of its sets (a claim belongs to one set).
# ``current`` is filled with it (FILL_CURRENT); reads with as_of or at use BY_MEMBERS below.
BEST = (
    """sets AS (
    SELECT topic, speakers, claim, opened, stated_key, seq, n, nth FROM (
        SELECT topic, speakers, claim, opened, stated_key, seq, count(*) OVER s AS n,
               row_number() OVER (s ORDER BY stated_key DESC, seq DESC) AS nth
        FROM claims WINDOW s AS (PARTITION BY topic, speakers)) AS ranked
    WHERE nth <= 2)""",
    """attributed AS (
    SELECT DISTINCT a.ancestor AS party, s.topic, s.speakers, s.n, s.nth, s.claim, s.opened, s.stated_key, s.seq
    FROM sets s CROSS JOIN LATERAL jsonb_array_elements_text(s.speakers) AS m(member)
    JOIN anc a ON a.member = m.member)""",
    """ranked AS (
    SELECT party, topic, claim, opened, stated_key, seq,
           sum(n) FILTER (WHERE nth = 1) OVER p AS claims,
           row_number() OVER (p ORDER BY stated_key DESC, seq DESC) AS place,
           lead(claim) OVER (p ORDER BY stated_key DESC, seq DESC) AS prior_claim,
           lead(opened) OVER (p ORDER BY stated_key DESC, seq DESC) AS prior_opened
    FROM attributed WINDOW p AS (PARTITION BY party, topic))""",
    """best AS (SELECT * FROM ranked WHERE place = 1)""",
)

# The same answer as BEST for reads with as_of or at (every party, a topic or all), in time that
# grows with the topic's claims at a few tenths of a microsecond each. Nine claims in ten have one
# speaker; each of the others is its own set of speakers nearly always, so folding per set (BEST)
# fanned a tenth of the claims out to every party they count for (56,000 rows for the largest topic
# at 1M events), then sorted them. Here instead, per topic and member:
# - claims with one speaker (``solo``) are counted per speaker on the _solo index, in its order,
#   and each speaker's latest is looked up on the same index (a few rows each);
# - claims with several (``joint``, the _joint index, newest first: ``r`` is that rank) are
#   counted per member, and each member's latest is the one of least rank.
# A party's latest is then the latest of its members' (``by_party``), and its count the sum of
# theirs, less what that sum counts twice: a joint claim two or more of whose speakers count for
# the same party counts once for it (``shared``: those claims, found as those with a speaker
# among the ``close`` others of another; ``extra``: how many times each was counted too often).
FULL_FRAME = "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING"
# The parties each member counts for, as an array per member (the planner's estimate of ``anc``
# is a thousand times too high).
ANCESTORS = """ancestors AS MATERIALIZED (SELECT member, array_agg(ancestor) AS parties FROM anc GROUP BY member)"""
BY_MEMBERS = (
    """solo AS (
    SELECT topic, speaker AS member, count(*) AS n FROM {claim}
    WHERE jsonb_array_length(speakers) = 1 AND {conditions} GROUP BY topic, speaker)""",
    """joint AS MATERIALIZED (
    SELECT topic, speakers, claim, opened, stated_key, seq,
           row_number() OVER (ORDER BY topic, stated_key DESC, seq DESC) AS r
    FROM {claim} WHERE jsonb_array_length(speakers) > 1 AND {conditions})""",
    """joint_members AS MATERIALIZED (
    SELECT j.r, j.topic, m.member, j.speakers FROM joint j
    CROSS JOIN LATERAL jsonb_array_elements_text(j.speakers) AS m(member))""",
    ANCESTORS,
    """by_member AS (
    SELECT s.topic, s.member, s.n, w.claim, w.opened, w.stated_key, w.seq FROM solo s CROSS JOIN LATERAL (
        SELECT claim, opened, stated_key, seq FROM {claim} c
        WHERE jsonb_array_length(c.speakers) = 1 AND c.topic = s.topic AND c.speaker = s.member AND {conditions}
        ORDER BY stated_key DESC, seq DESC LIMIT 1) AS w
    UNION ALL
    SELECT j.topic, g.member, g.n, j.claim, j.opened, j.stated_key, j.seq
    FROM (SELECT topic, member, count(*) AS n, min(r) AS r FROM joint_members GROUP BY topic, member) AS g
    JOIN joint j ON j.r = g.r)""",
    f"""by_party AS (
    SELECT DISTINCT ON (p.party, b.topic) p.party, b.topic, b.claim, b.opened, b.stated_key, b.seq,
           sum(b.n) OVER (PARTITION BY p.party, b.topic ORDER BY b.stated_key DESC, b.seq DESC {FULL_FRAME}) AS n
    FROM by_member b JOIN ancestors a ON a.member = b.member CROSS JOIN LATERAL unnest(a.parties) AS p(party)
    ORDER BY p.party, b.topic, b.stated_key DESC, b.seq DESC)""",
    # Each member's others: the parties that count for a party it counts for.
    """close AS MATERIALIZED (
    SELECT a.member, array_agg(DISTINCT b.member) AS others FROM anc a
    JOIN anc b ON a.ancestor = b.ancestor AND a.member <> b.member GROUP BY a.member)""",
    # (A claim's speakers never repeat: check_speakers refuses it.)
    """shared AS MATERIALIZED (
    SELECT DISTINCT m.r FROM joint_members m JOIN close c ON c.member = m.member
    WHERE (m.speakers - m.member) ?| c.others)""",
    """extra AS (
    SELECT p.party, m.topic, count(*) - count(DISTINCT m.r) AS n
    FROM shared s JOIN joint_members m ON m.r = s.r JOIN ancestors a ON a.member = m.member
    CROSS JOIN LATERAL unnest(a.parties) AS p(party) GROUP BY p.party, m.topic)""",
    """best AS (
    SELECT b.party, b.topic, b.claim, b.opened, b.stated_key, b.seq, b.n - coalesce(e.n, 0) AS claims
    FROM by_party b LEFT JOIN extra e ON e.party = b.party AND e.topic = b.topic)""",
)
# The winners' rows, looked up one by one on the primary key (LATERAL … LIMIT 1: the planner,
# expecting thousands of winners, would otherwise hash the whole table).
BY_SETS = """SELECT b.party, b.topic, c.stance, coalesce(c.raw_position, c.text) AS position, c.claim, c.speaker,
       c.stated_at, b.claims::bigint AS claims, c.sys_from AS updated_at
FROM best b CROSS JOIN LATERAL (
    SELECT * FROM {claim} c WHERE c.claim = b.claim AND c.opened = b.opened LIMIT 1) AS c
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

# A party's latest changes now on each topic it has a position on (``back``: 1 the latest), with the
# one before the oldest kept (whether it shifted needs its predecessor), and how many there are in all
# (``changes``: the claims ``current`` counts). Found on the indexes, not by ranking all its claims:
# each member's latest few per topic on the speaker index, the claims its members co-sign (one in
# ten) on the co-speakers index; only the kept ones are read in full.
LATEST_HISTORY = (
    """members AS MATERIALIZED (SELECT ARRAY(SELECT member FROM anc WHERE ancestor = %(party)s) AS m)""",
    """held AS (SELECT topic, claims AS changes FROM {current} WHERE party = %(party)s)""",
    """candidates AS (
    SELECT h.topic, w.claim, w.opened, w.stated_key, w.seq FROM held h
    CROSS JOIN unnest((SELECT m FROM members)) AS s(member) CROSS JOIN LATERAL (
        SELECT claim, opened, stated_key, seq FROM {claim}
        WHERE speaker = s.member AND topic = h.topic AND active AND sys_to IS NULL
        ORDER BY stated_key DESC, seq DESC LIMIT %(latest)s + 1) AS w
    UNION ALL
    SELECT topic, claim, opened, stated_key, seq FROM {claim}
    WHERE active AND sys_to IS NULL AND jsonb_array_length(speakers) > 1
      AND (speakers - 0) ?| (SELECT m FROM members) AND speaker <> ALL((SELECT m FROM members)::text[]))""",
)
LATEST_CHANGES = """SELECT %(party)s::text AS party, r.topic, c.stance, coalesce(c.raw_position, c.text) AS position,
       c.claim, c.speaker, c.stated_at, c.sys_from AS recorded_at, r.back, h.changes
FROM (SELECT topic, claim, opened, stated_key, seq,
             row_number() OVER (PARTITION BY topic ORDER BY stated_key DESC, seq DESC) AS back
      FROM candidates) AS r
JOIN held h ON h.topic = r.topic
JOIN {claim} c ON c.claim = r.claim AND c.opened = r.opened
WHERE r.back <= %(latest)s + 1
ORDER BY r.topic, r.stated_key, r.seq"""

# Each party's position on each topic now, for the table ``current`` (party, topic): the winner
# and the number of claims, picked by BEST (as BY_MEMBERS picks them for a read). Computed whole
# after a bulk build and when the party graph changes; kept row by row as claims come and go otherwise.
OPEN_CLAIMS = """claims AS (
    SELECT claim, opened, topic, speakers, stated_key, seq FROM {claim} WHERE active AND sys_to IS NULL)"""
FILL_CURRENT = """INSERT INTO {current} ({columns})
SELECT b.stated_key, b.seq, b.claim, b.opened, c.stance, coalesce(c.raw_position, c.text), c.speaker, c.stated_at,
       c.sys_from, b.party, b.topic, b.claims, p.stated_key, p.seq, p.claim, p.stance
FROM best b JOIN {claim} c ON c.claim = b.claim AND c.opened = b.opened
LEFT JOIN {claim} p ON p.claim = b.prior_claim AND p.opened = b.prior_opened"""

# The latest two active claims of each given (party, topic) pair (``place`` 1 and 2): its members'
# own claims (speaker index), then those they co-signed (co-speakers index), newest first. A claim
# a member speaks and another co-signs is found by both: UNION keeps it once.
PAIRS = (
    """pairs AS (SELECT * FROM unnest(%(parties)s::text[], %(topics)s::text[]) AS p(party, topic))""",
    """members AS (SELECT p.party, p.topic, array_agg(a.member) AS m FROM pairs p JOIN anc a ON a.ancestor = p.party
            GROUP BY p.party, p.topic)""",
)
WINNERS = """SELECT mb.party, mb.topic, w.place, c.stated_key, c.seq, c.claim, c.opened, c.stance,
       coalesce(c.raw_position, c.text) AS position, c.speaker, c.stated_at, c.sys_from AS updated_at
FROM members mb CROSS JOIN LATERAL (
    SELECT claim, opened, row_number() OVER (ORDER BY stated_key DESC, seq DESC) AS place FROM (
        (SELECT claim, opened, stated_key, seq FROM {claim} WHERE topic = mb.topic AND active AND sys_to IS NULL
           AND speaker = ANY(mb.m) ORDER BY stated_key DESC, seq DESC LIMIT 2)
        UNION
        (SELECT claim, opened, stated_key, seq FROM {claim} WHERE topic = mb.topic AND active AND sys_to IS NULL
           AND jsonb_array_length(speakers) > 1 AND (speakers - 0) ?| mb.m ORDER BY stated_key DESC, seq DESC LIMIT 2)
        ORDER BY stated_key DESC, seq DESC LIMIT 2) AS top) AS w
JOIN {claim} c ON c.claim = w.claim AND c.opened = w.opened"""

# The position before the latest change of each party on each topic (``prior``), for reads with
# as_of or at (now, ``current`` keeps it): as BY_MEMBERS, per topic and member, but the latest two
# claims of each member, not one. A party's two latest are among its members' two latest each
# (a claim two members share is counted once: DISTINCT).
PRIORS = (
    """solo AS (
    SELECT DISTINCT topic, speaker AS member FROM {claim} WHERE jsonb_array_length(speakers) = 1 AND {conditions})""",
    """joint AS (
    SELECT j.topic, m.member, j.claim, j.opened, j.stated_key, j.seq,
           row_number() OVER (PARTITION BY j.topic, m.member ORDER BY j.stated_key DESC, j.seq DESC) AS place
    FROM {claim} j CROSS JOIN LATERAL jsonb_array_elements_text(j.speakers) AS m(member)
    WHERE jsonb_array_length(j.speakers) > 1 AND {conditions})""",
    """by_member AS (
    SELECT s.topic, s.member, w.claim, w.opened, w.stated_key, w.seq FROM solo s CROSS JOIN LATERAL (
        SELECT claim, opened, stated_key, seq FROM {claim} c
        WHERE jsonb_array_length(c.speakers) = 1 AND c.topic = s.topic AND c.speaker = s.member AND {conditions}
        ORDER BY stated_key DESC, seq DESC LIMIT 2) AS w
    UNION ALL
    SELECT topic, member, claim, opened, stated_key, seq FROM joint WHERE place <= 2)""",
    ANCESTORS,
    """attributed AS (
    SELECT DISTINCT p.party, b.topic, b.claim, b.opened, b.stated_key, b.seq
    FROM by_member b JOIN ancestors a ON a.member = b.member CROSS JOIN LATERAL unnest(a.parties) AS p(party))""",
    """ranked AS (
    SELECT party, topic, claim, opened,
           row_number() OVER (PARTITION BY party, topic ORDER BY stated_key DESC, seq DESC) AS place
    FROM attributed)""",
)
PRIOR_STANCES = """SELECT r.party, r.topic, c.stance AS prior FROM ranked r CROSS JOIN LATERAL (
    SELECT stance FROM {claim} c WHERE c.claim = r.claim AND c.opened = r.opened LIMIT 1) AS c
WHERE r.place = 2"""

CURRENT_NOW = """SELECT party, topic, stance, position, claim, speaker, stated_at, claims, updated_at
FROM {current} WHERE {conditions} ORDER BY party, topic"""
CURRENT_PRIORS = """SELECT party, topic, prior_stance AS prior FROM {current} WHERE {conditions} AND prior_claim IS NOT NULL"""

# What picking positions needs of a claim, for a party.
NARROW = ("claim", "opened", "topic", "stated_key", "seq")
