"""Set-based rebuilds: the claims and positions views built inside PostgreSQL, from the stored events.

A rebuild in Python reads, decodes and folds every event one object at a time. The events are
JSON already, so the claims and positions views can be built by a few statements each over the
events table (jsonb, ordered aggregates, window functions; ``CREATE TABLE AS`` into scratch
tables where parallel workers may read and parse the events and, for the claims, make each row
with ``claims_bulk_row``), with no event crossing into Python. The live projections stay in Python, event by event; both must give the same rows
(``tests/integration/test_set_based_rebuild.py`` holds them to it).

What the SQL cannot reproduce exactly, it refuses rather than guess: a value jsonb cannot hold
(NaN, NUL), a typed value other than the timestamp (the transcoder would decode it into an
object), a ``stated_at`` outside the strict forms the API writes (a date, or a date-time with
seconds to six digits and an offset; a date-time not in the years 1 or 9999, where the instant
in UTC may leave the calendar), a correction naming fields a claim does not have. Then the streams
holding such events are found (one more pass, only then) and left out, and the runner applies
their events in Python, normalised as ``values.py`` says, as a live projection would. Events of
types the SQL does not build (the positions view's party events: a few hundred) go through
Python too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, ClassVar
from uuid import UUID

import psycopg
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic
from psycopg import Cursor
from psycopg.sql import SQL, Composable, Composed, Identifier, Literal

from adapters.unavailable import database_unavailable
from domain.claim import CORRECTABLE, Claim
from projections.view import View

log = logging.getLogger(__name__)

ASSERTED, CORRECTED, CORROBORATED, DISPUTED, RETRACTED, SUPERSEDED = (
    get_topic(cls) for cls in (Claim.ClaimAsserted, Claim.ClaimCorrected, Claim.ClaimCorroborated,
                               Claim.ClaimDisputed, Claim.ClaimRetracted, Claim.ClaimSuperseded)
)
CLAIM_TOPICS = (ASSERTED, CORRECTED, CORROBORATED, DISPUTED, RETRACTED, SUPERSEDED)
_REQUIRED = tuple(name for name in CORRECTABLE if name != "facts")  # facts: added by the v1 -> v2 upcast
_ASSERTED_FIELDS = ", ".join(f"'{n}', a->'{n}'" for n in _REQUIRED)
# What a correction's changes may name that positions follow (``position`` as raw_position).
_MOVED = ("topic", "stance", "text", "stated_at", "speaker", "position", "co_speakers")

# STABLE, not IMMUTABLE, as the casts they use are: so that the planner inlines them.
# Each function is created in the view's schema (CREATE OR REPLACE, under an advisory lock: two
# rebuilds may start at once). ``{s}`` is the schema.
# (Braces doubled: these go through psycopg.sql's format.)
_DATE_TIME = r"^\d{{4}}-\d{{2}}-\d{{2}}T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{{1,6}})?)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$"
FUNCTIONS = (
    # Raise: the set-based build cannot reproduce what Python would make of this value.
    """CREATE OR REPLACE FUNCTION {s}.claims_bulk_refuse(what text, value text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$ BEGIN
      RAISE EXCEPTION 'set-based rebuild: % %', what, left(value, 80) USING ERRCODE = 'CLB01';
    END $$""",
    # values.utc_instant for the forms the API writes, any offset up to ±23:59 (PostgreSQL's own
    # input takes ±15:59): the wall time minus the offset. Anything else is refused.
    f"""CREATE OR REPLACE FUNCTION {{s}}.claims_utc_instant(s text) RETURNS timestamptz
    LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT CASE
      WHEN length(s) = 10 AND translate(s, '123456789', '000000000') = '0000-00-00'
        THEN s::date::timestamp AT TIME ZONE 'UTC'
      WHEN left(s, 4) IN ('0001', '9999') THEN {{s}}.claims_bulk_refuse('stated_at', s)::timestamptz
      WHEN length(s) = 20 AND translate(s, '123456789', '000000000') = '0000-00-00T00:00:00Z'
        AND substr(s, 12, 2) < '24' AND substr(s, 18, 2) < '60'  -- PostgreSQL takes 24:00 and 23:59:60, Python not
        THEN left(s, -1)::timestamp AT TIME ZONE 'UTC'
      WHEN length(s) = 25 AND translate(s, '123456789', '000000000') IN ('0000-00-00T00:00:00+00:00', '0000-00-00T00:00:00-00:00')
        AND substr(s, 12, 2) < '24' AND substr(s, 18, 2) < '60' AND substr(s, 21, 2) < '24' AND right(s, 2) < '60'
        THEN (left(s, -6)::timestamp - make_interval(mins => (CASE substr(s, 20, 1) WHEN '-' THEN -1 ELSE 1 END)
             * (substr(s, 21, 2)::int * 60 + right(s, 2)::int))) AT TIME ZONE 'UTC'
      WHEN s ~ '{_DATE_TIME}' THEN CASE  -- the other forms the API writes: no seconds, or a fraction of them
        WHEN right(s, 1) = 'Z' THEN left(s, -1)::timestamp
        ELSE left(s, -6)::timestamp - make_interval(mins => (CASE substr(s, length(s) - 5, 1) WHEN '-' THEN -1 ELSE 1 END)
             * (substr(s, length(s) - 4, 2)::int * 60 + right(s, 2)::int))
        END AT TIME ZONE 'UTC'
      ELSE {{s}}.claims_bulk_refuse('stated_at', s)::timestamptz END $$""",
    # claims.search_config
    """CREATE OR REPLACE FUNCTION {s}.claims_search_config(language text) RETURNS regconfig
    LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT (CASE lower(split_part(language, '-', 1))
      WHEN 'de' THEN 'german' WHEN 'en' THEN 'english' ELSE 'simple' END)::regconfig $$""",
    # A stored event's state as jsonb. Its only typed value (the library's {"_type_", "_data_"})
    # must be the timestamp it begins with: the transcoder would decode any other into a Python
    # object, which SQL cannot mimic.
    """CREATE OR REPLACE FUNCTION {s}.claims_event_json(state bytea) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT CASE
      WHEN position('"_type_":'::bytea IN substr(state, 24)) = 0 THEN convert_from(state, 'UTF8')::jsonb
      ELSE {s}.claims_bulk_refuse('typed value', encode(substr(state, 1, 80), 'escape'))::jsonb END $$""",
    # The last non-null value of an ordered aggregate; the running merge of jsonb objects (a || b).
    """CREATE OR REPLACE FUNCTION {s}.claims_last_step(a anyelement, b anyelement) RETURNS anyelement
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT b $$""",
    # PARALLEL SAFE: an aggregate is parallel-unsafe unless it says so, and one in a query keeps the
    # whole of it out of the parallel workers (the follow-ups were read and parsed by one process).
    """CREATE OR REPLACE AGGREGATE {s}.claims_last(anyelement) (SFUNC = {s}.claims_last_step, STYPE = anyelement,
    PARALLEL = SAFE)""",
    """CREATE OR REPLACE AGGREGATE {s}.claims_merge(jsonb) (SFUNC = jsonb_concat, STYPE = jsonb, INITCOND = '{{}}',
    PARALLEL = SAFE)""",
    # A claims view row from its ClaimAsserted and its folded follow-ups (NULL without): the document,
    # the instant it is ordered by, the search vector, each computed once. A function (PL/pgSQL, its
    # expressions planned, so the SQL functions above inlined), so that the whole row is made in the
    # parallel workers of the CREATE TABLE AS that calls it: the lateral subqueries that would keep
    # each document from being built once per use are kept out of the workers.
    """DO $$ BEGIN
      CREATE TYPE {s}.claims_bulk_row_v1 AS (doc jsonb, stated_key timestamptz, search tsvector);
    EXCEPTION WHEN duplicate_object THEN NULL; END $$""",
    f"""CREATE OR REPLACE FUNCTION {{s}}.claims_bulk_row(state bytea, p_id uuid, p_version bigint,
      f_version bigint, f_updated_at jsonb, f_changes jsonb, f_corroborations jsonb, f_disputes jsonb,
      f_status text, f_superseded_by jsonb) RETURNS {{s}}.claims_bulk_row_v1
    LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$ DECLARE
      a jsonb := {{s}}.claims_event_json(state); r {{s}}.claims_bulk_row_v1;
    BEGIN
      IF NOT a ?& {{required}} THEN PERFORM {{s}}.claims_bulk_refuse('claim asserted without', a::text); END IF;
      r.doc := jsonb_build_object({_ASSERTED_FIELDS}, 'facts', coalesce(a->'facts', '{{{{}}}}'::jsonb),
        'id', p_id::text, 'version', coalesce(f_version, p_version), 'status', coalesce(f_status, 'active'),
        'corroborations', coalesce(f_corroborations, '[]'::jsonb), 'disputes', coalesce(f_disputes, '[]'::jsonb),
        'superseded_by', f_superseded_by, 'recorded_at', a->'meta'->'recorded_at',
        'updated_at', coalesce(f_updated_at, a->'meta'->'recorded_at'));
      IF f_changes IS NOT NULL THEN r.doc := r.doc || f_changes; END IF;
      r.stated_key := {{s}}.claims_utc_instant(r.doc->>'stated_at');
      r.search := to_tsvector({{s}}.claims_search_config(r.doc->>'language'),
                              concat(r.doc->>'text', ' ', r.doc->>'position'));
      RETURN r;
    END $$""",
    # Whether the statements below would refuse an event: each check they make, an error caught.
    # Used only once a build was refused, to find the streams to leave to Python.
    """CREATE OR REPLACE FUNCTION {s}.claims_bulk_refuses(topic text, state bytea) RETURNS boolean
    LANGUAGE plpgsql STABLE AS $$ DECLARE s jsonb; BEGIN
      s := {s}.claims_event_json(state);
      IF topic = {asserted} THEN
        IF NOT s ?& {required} THEN RETURN true; END IF;
        PERFORM {s}.claims_utc_instant(s->>'stated_at');
      ELSIF topic = {corrected} THEN
        IF (s->'changes') - {correctable} <> '{{}}' THEN RETURN true; END IF;
        IF s->'changes' ? 'stated_at' THEN PERFORM {s}.claims_utc_instant(s->'changes'->>'stated_at'); END IF;
      END IF;
      RETURN false;
    EXCEPTION WHEN OTHERS THEN RETURN true;
    END $$""",
)


def install(curs: Cursor[Any], schema: str) -> None:
    """Create (or replace) the functions the set-based builds use, in ``schema``."""
    curs.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"claims-bulk-functions:{schema}",))
    for statement in FUNCTIONS:
        curs.execute(SQL(statement).format(
            s=Identifier(schema), asserted=Literal(ASSERTED), corrected=Literal(CORRECTED),
            required=_array(_REQUIRED), correctable=_array(CORRECTABLE)))


def refused(error: Exception) -> bool:
    """Whether a failed build was refused by its data (not by the database being unavailable)."""
    cause = error if isinstance(error, psycopg.Error) else error.__cause__  # the library wraps psycopg's errors
    return isinstance(cause, psycopg.Error) and not database_unavailable(error) and not database_unavailable(cause)


class SetBased:
    """How one view is built in SQL: the event types it reads, and the statements that load them."""

    topics: ClassVar[tuple[str, ...]]  # the event types the SQL builds from; the projection's others go through Python
    table: ClassVar[str] = "claim"  # the view's table the statements fill (the others: through Python)
    statements: ClassVar[tuple[str, ...]]

    def build(self, view: View, events_table: str, head: int) -> list[UUID] | None:
        """Load ``view``'s rows from the events up to ``head``, in one transaction; answer the streams left out.

        First every stream; if the SQL refuses an event, the streams holding such events are
        found and the load is made again without them. None: refused even so (the caller
        builds the whole view in Python).
        """
        datastore = view.datastore
        events = Identifier(datastore.schema, events_table)
        excluded: list[UUID] = []
        with datastore.transaction(commit=True) as curs:
            install(curs, datastore.schema)
        for attempt in range(2):
            try:
                with datastore.transaction(commit=True) as curs:
                    self.load(curs, view, events, head, excluded)
                return excluded
            except Exception as e:
                if not refused(e):
                    raise
                log.warning("set-based rebuild of %s refused (%s: %s)", view.name, type(e).__name__, e)
                if attempt:
                    return None
            with datastore.transaction(commit=False) as curs:
                found = curs.execute(SQL(
                    "SELECT DISTINCT originator_id AS id FROM {events} WHERE topic = ANY(%s) AND notification_id <= %s"
                    " AND {s}.claims_bulk_refuses(topic, state)").format(events=events, s=Identifier(datastore.schema)),
                    (list(self.topics), head)).fetchall()
            excluded = [row["id"] for row in found]
            log.warning("set-based rebuild of %s: %d streams left to Python", view.name, len(excluded))
        return None

    def load(self, curs: Cursor[Any], view: View, events: Identifier, head: int, excluded: Sequence[UUID]) -> None:
        """Insert the rows of every stream but ``excluded`` from the events up to ``head``."""
        params = {"head": head, "excluded": list(excluded), "follow_ups": [t for t in self.topics if t != ASSERTED],
                  **{name: topic for name, topic in zip(_TOPIC_NAMES, CLAIM_TOPICS, strict=True)}}
        curs.execute("SET LOCAL work_mem = '64MB'")
        with view.load_unindexed(curs, self.table):  # its indexes made after the rows, before they commit
            for statement in self.statements:
                curs.execute(view.q(statement, s=Identifier(view.datastore.schema), events=events,
                                    **self.fragments(view)), params)

    def fragments(self, view: View) -> dict[str, Composable]:
        """Named pieces of the statements besides the view's tables."""
        return {}

    @staticmethod
    def left_to_python(  # noqa: PLR0913
        view: View, events_table: str, after: int, stop: int, rest: Sequence[str], streams: Sequence[UUID],
        topics: Sequence[str],
    ) -> list[Notification]:
        """The events after ``after`` up to ``stop`` that the SQL did not build: those of the types
        in ``rest``, and those of ``topics`` in the ``streams`` it left out."""
        query = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {events}"
            " WHERE notification_id > %(after)s AND notification_id <= %(stop)s"
            " AND (topic = ANY(%(rest)s) OR (originator_id = ANY(%(streams)s::uuid[]) AND topic = ANY(%(topics)s)))"
            " ORDER BY notification_id"
        ).format(events=Identifier(view.datastore.schema, events_table))
        params = {"after": after, "stop": stop, "rest": list(rest), "streams": list(streams), "topics": list(topics)}
        with view.datastore.transaction(commit=False) as curs:
            rows = curs.execute(query, params).fetchall()
        return [Notification(id=r["notification_id"], originator_id=r["originator_id"],
                             originator_version=r["originator_version"], topic=r["topic"], state=bytes(r["state"]))
                for r in rows]


_TOPIC_NAMES = ("asserted", "corrected", "corroborated", "disputed", "retracted", "superseded")


def _array(names: Sequence[str]) -> Composed:
    return SQL("ARRAY[{}]::text[]").format(SQL(", ").join(Literal(n) for n in names))


def _events(topics: str, also: str = "") -> str:
    """The events a statement reads: of ``topics`` (a condition), up to the head, of the streams not left to Python
    (and ``also``: a condition on the stored row, applied before the state is parsed).

    Each state is parsed once (OFFSET 0 keeps the planner from parsing it again for each use of ``s``).
    """
    return (
        "(SELECT notification_id AS seq, originator_id AS id, originator_version AS version, topic,"
        " {s}.claims_event_json(state) AS s"
        f" FROM {{events}} WHERE topic {topics} AND notification_id <= %(head)s"
        f" AND originator_id <> ALL(%(excluded)s::uuid[]) {also} OFFSET 0)"
    )


class ClaimsSetBased(SetBased):
    """The claims view: a row per ClaimAsserted, its follow-ups folded in by ordered aggregates.

    As ``ClaimsProjection.fold``: the asserted fields, then the corrections' changes in order,
    corroborations and disputes appended, the status of the last retraction or supersession,
    the version and updated_at of the last event.
    """

    topics = CLAIM_TOPICS
    # The follow-ups folded per claim, then the rows, into scratch tables (CREATE TABLE AS may use
    # parallel workers, where INSERT … SELECT never does: the events are read and parsed by them),
    # then inserted.
    statements = (
        "DROP TABLE IF EXISTS {follow}, {rows}",
        "CREATE UNLOGGED TABLE {follow} AS SELECT id,"
        " max(version) AS version,"
        " {s}.claims_last(s->'meta'->'recorded_at' ORDER BY seq) AS updated_at,"
        " {s}.claims_merge(CASE WHEN (s->'changes') - {correctable} = '{{}}' THEN s->'changes'"
        "   ELSE {s}.claims_bulk_refuse('correction of', (s->'changes')::text)::jsonb END ORDER BY seq)"
        "   FILTER (WHERE topic = %(corrected)s) AS changes,"
        " jsonb_agg(jsonb_build_object('by', s->'by', 'source', s->'source', 'note', s->'note',"
        "   'recorded_at', s->'meta'->'recorded_at') ORDER BY seq) FILTER (WHERE topic = %(corroborated)s)"
        "   AS corroborations,"
        " jsonb_agg(jsonb_build_object('by', s->'by', 'source', s->'source', 'note', s->'note',"
        "   'counter_claim', s->'counter_claim', 'recorded_at', s->'meta'->'recorded_at') ORDER BY seq)"
        "   FILTER (WHERE topic = %(disputed)s) AS disputes,"
        " {s}.claims_last(CASE topic WHEN %(retracted)s THEN 'retracted' WHEN %(superseded)s THEN 'superseded' END"
        "   ORDER BY seq) AS status,"
        " {s}.claims_last(CASE WHEN topic = %(superseded)s THEN s->'by_claim' END ORDER BY seq) AS superseded_by"
        f" FROM {_events('= ANY(%(follow_ups)s)')} AS e GROUP BY id",
        "ANALYZE {follow}",
        "CREATE UNLOGGED TABLE {rows} AS"
        " SELECT id, seq, (r).stated_key, (r).doc, (r).search FROM (SELECT e.originator_id AS id, e.notification_id AS seq,"
        "  {s}.claims_bulk_row(e.state, e.originator_id, e.originator_version, f.version, f.updated_at, f.changes,"
        "   f.corroborations, f.disputes, f.status, f.superseded_by) AS r"
        "  FROM {events} AS e LEFT JOIN {follow} f ON f.id = e.originator_id"
        "  WHERE e.topic = %(asserted)s AND e.notification_id <= %(head)s"
        "  AND e.originator_id <> ALL(%(excluded)s::uuid[]) OFFSET 0) AS c",  # each row made once, not once per use
        # (In the order the workers read the events: by stretches of the log, not sorted, which
        # at a million events was an external sort of 800 MB.)
        "INSERT INTO {claim} (id, seq, stated_key, doc, search) SELECT id, seq, stated_key, doc, search FROM {rows}",
        "DROP TABLE {follow}, {rows}",
    )

    def fragments(self, view: View) -> dict[str, Composable]:
        return {"correctable": _array(CORRECTABLE), "required": _array(_REQUIRED),
                "follow": view.scratch("bulk_follow"), "rows": view.scratch("bulk_rows")}


class PositionsSetBased(SetBased):
    """The positions view's claim intervals: one per ClaimAsserted and per follow-up that moves it.

    As ``PositionsProjection.apply``: a correction naming a field positions show (topic, stance,
    text, stated_at, speaker, position, co_speakers) closes the open interval and opens the next
    with those fields changed; a retraction or supersession opens one that is inactive. Claims
    without such follow-ups (most) are a row each; the others are folded by window functions
    (the running merge of their changes, the next interval's start as this one's end).
    Party intervals (a few hundred events) are left to Python.
    """

    topics = (ASSERTED, CORRECTED, RETRACTED, SUPERSEDED)
    statements = (
        # The claims with intervals beyond the first, and the follow-ups that open them. (Scratch
        # tables, not temporary ones, which parallel workers cannot read.)
        "DROP TABLE IF EXISTS {moves}, {single}",
        "CREATE UNLOGGED TABLE {moves} AS"
        " SELECT seq, id, topic = %(corrected)s AS corrected, s->'meta'->>'recorded_at' AS at,"
        "  CASE WHEN topic = %(corrected)s THEN CASE WHEN (s->'changes') - {correctable} = '{{}}'"
        "   THEN (s->'changes') - {unmoved}"
        "   ELSE {s}.claims_bulk_refuse('correction of', (s->'changes')::text)::jsonb END END AS delta"
        f" FROM {_events('= ANY(%(follow_ups)s)')} AS e"
        " WHERE topic <> %(corrected)s OR (s->'changes') ?| {moved}",
        "ANALYZE {moves}",
        # Claims with one interval: the asserted fields as they are; made by parallel workers
        # (CREATE TABLE AS), then inserted. Only the states of the claims wanted are parsed.
        "CREATE UNLOGGED TABLE {single} AS"
        " SELECT a.id, a.seq AS opened, a.seq, a.s->>'topic' AS topic,"
        "  jsonb_build_array(a.s->'speaker') || (a.s->'co_speakers') AS speakers,"
        "  a.s->>'speaker' AS speaker, a.s->>'stance' AS stance, a.s->>'position' AS raw_position, a.s->>'text' AS text,"
        "  a.s->>'stated_at' AS stated_at, {s}.claims_utc_instant(a.s->>'stated_at') AS stated_key, true AS active,"
        "  (a.s->'meta'->>'recorded_at')::timestamptz AS sys_from, NULL::timestamptz AS sys_to"
        f" FROM {_events('= %(asserted)s', 'AND NOT EXISTS (SELECT 1 FROM {moves} m WHERE m.id = originator_id)')} AS a",
        "INSERT INTO {claim} ({columns}) SELECT * FROM {single}",
        # Claims with more: each interval's fields are the asserted ones merged with every change
        # up to it; it is active until a retraction or supersession; it ends where the next begins.
        "INSERT INTO {claim} ({columns})"
        " SELECT id, opened, first_value(opened) OVER w, f->>'topic', jsonb_build_array(f->'speaker') || (f->'co_speakers'),"
        "  f->>'speaker', f->>'stance', f->>'position', f->>'text', f->>'stated_at',"
        "  {s}.claims_utc_instant(f->>'stated_at'), active, at::timestamptz, (lead(at) OVER w)::timestamptz"
        " FROM (SELECT id, opened, at, {s}.claims_merge(delta) OVER w AS f, NOT bool_or(ended) OVER w AS active"
        "  FROM (SELECT a.id, a.seq AS opened, a.s->'meta'->>'recorded_at' AS at, false AS ended,"
        "    jsonb_build_object('topic', a.s->'topic', 'stance', a.s->'stance', 'text', a.s->'text',"
        "     'stated_at', a.s->'stated_at', 'speaker', a.s->'speaker', 'position', a.s->'position',"
        "     'co_speakers', a.s->'co_speakers') AS delta"
        f"   FROM {_events('= %(asserted)s', 'AND EXISTS (SELECT 1 FROM {moves} m WHERE m.id = originator_id)')} AS a"
        "   UNION ALL SELECT id, seq, at, NOT corrected, coalesce(delta, '{{}}'::jsonb) FROM {moves}) AS i"
        "  WINDOW w AS (PARTITION BY id ORDER BY opened)) AS i"
        " WINDOW w AS (PARTITION BY id ORDER BY opened)",
        "DROP TABLE {moves}, {single}",
    )

    def fragments(self, view: View) -> dict[str, Composable]:
        from projections.positions_queries import CLAIM_COLUMNS, column_list

        unmoved = [name for name in CORRECTABLE if name not in _MOVED]
        return {"correctable": _array(CORRECTABLE), "unmoved": _array(unmoved), "moved": _array(_MOVED),
                "columns": column_list(CLAIM_COLUMNS), "moves": view.scratch("bulk_moves"),
                "single": view.scratch("bulk_single")}

