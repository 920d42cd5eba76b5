"""Runs the projections: live from the event log, one worker thread per projection.

Each worker reads the log in batches after its view's tracked position and applies a batch
in one transaction (view rows and tracking together). Caught up, it sleeps until the store's
NOTIFY (or a second) says there may be more. Two processes on one database never both apply
a projection: a worker applies only while it holds that projection's PostgreSQL advisory
lock; another waits as a standby and takes over when the lock frees (the holder's session
ends, however it ends). Even without the lock, the tracking row refuses to go backwards, so
no event is ever applied twice.

Past 400 lines on purpose: a worker's life (lock, follow, apply one by one with normalising,
rebuild blue/green) and the runner that wakes and stops the workers share their state and
their failure handling; split, each half would need the other to be read.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL, Identifier

from adapters import collector
from adapters.recorder import datastore_of
from adapters.unavailable import DATABASE_UNAVAILABLE, database_unavailable
from domain.application import ClaimsApplication
from projections import values
from projections.bulk import ClaimsSetBased, PositionsSetBased, SetBased
from projections.claims import ClaimsProjection, ClaimsView
from projections.control import Control, Progress
from projections.parties import PartiesProjection, PartiesView
from projections.positions import PositionsProjection, PositionsView
from projections.reviews import ReviewsProjection, ReviewsView
from projections.topics import TopicsProjection, TopicsView
from projections.view import APPLICATION, NEXT, BatchProjection, View

log = logging.getLogger(__name__)

# name -> (view class, projection class)
PROJECTIONS: dict[str, tuple[type[View], type[BatchProjection[Any]]]] = {
    "claims": (ClaimsView, ClaimsProjection),
    "parties": (PartiesView, PartiesProjection),
    "topics": (TopicsView, TopicsProjection),
    "positions": (PositionsView, PositionsProjection),
    "reviews": (ReviewsView, ReviewsProjection),
}
LIVE_BATCH = 1_000  # log positions a live batch covers
# While events keep coming, a worker waits this long between batches, so that a batch holds what
# arrived meanwhile: each batch costs a transaction and a few queries per projection, which at
# one batch per group commit was most of the CPU a claim cost. The first event after a quiet
# spell is applied at once.
LIVE_LINGER = 0.1
REBUILD_BATCH = 20_000  # and a rebuild batch
VACUUM_WAIT = 600.0  # seconds a rebuilt view's VACUUM waits at most for older transactions to end
# Views a rebuild builds inside PostgreSQL (projections/bulk.py); Runner.set_based = False: all in Python.
SET_BASED: dict[str, SetBased] = {"claims": ClaimsSetBased(), "positions": PositionsSetBased()}


def views(app: ClaimsApplication, datastore: PostgresDatastore | None = None) -> dict[str, View]:
    """Every projection's live view, on the application's connection pool or ``datastore`` (tables created if need be)."""
    datastore = datastore or datastore_of(app)
    Control(datastore).create_table()
    made = {}
    for name, (view_class, _) in PROJECTIONS.items():
        made[name] = view_class(datastore)
        made[name].create_table()
    return made


def views_on(datastore: Any) -> dict[str, View]:
    """Every projection's view on ``datastore`` as it is (a hot standby's: nothing is created there)."""
    return {name: view_class(datastore) for name, (view_class, _) in PROJECTIONS.items()}


def lock_key(schema: str, name: str) -> int:
    """The advisory lock key of a projection (per schema, so that schemas do not share workers)."""
    digest = hashlib.sha256(f"claims-projection:{schema}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def status(app: ClaimsApplication, read_models: dict[str, View]) -> list[dict[str, Any]]:
    """Each projection's position, the log's head, its lag (events and seconds), state and rebuild progress.

    A projection whose lock nobody holds is "not running", whatever its worker said last
    (a killed worker says nothing).
    """
    datastore = datastore_of(app)
    head = app.recorder.max_notification_id() or 0
    control = Control(datastore).rows()
    with datastore.transaction(commit=False) as curs:
        held = {
            row["key"]
            for row in curs.execute(
                "SELECT (classid::bigint << 32) | objid::bigint AS key FROM pg_locks"
                " WHERE locktype = 'advisory' AND objsubid = 1 AND granted"
            ).fetchall()
        }
    items = []
    for name, view in read_models.items():
        position = view.position()
        row = control.get(name, {})
        running = lock_key(datastore.schema, name) in held
        items.append({
            "name": name,
            "state": (row.get("state") or "starting") if running else "not running",
            "position": position,
            "head": head,
            "lag": max(head - position, 0),
            "lag_seconds": lag_seconds(app, position),
            "error": row.get("error"),
            "rebuild": row.get("progress"),
            "rebuild_requested": bool(row.get("rebuild_requested")),
            "normalised": view.normalised(),
        })
    return items


def lag_seconds(app: ClaimsApplication, position: int) -> float:
    """How long the oldest event not yet processed at ``position`` has been waiting."""
    notifications = app.recorder.select_notifications(start=position + 1, limit=1)
    if not notifications:
        return 0.0
    event = app.mapper.to_domain_event(notifications[0])
    return round(max(time.time() - event.timestamp.timestamp(), 0.0), 3)


class Worker:
    """Applies one projection, live; rebuilds it when asked."""

    def __init__(self, runner: Runner, name: str) -> None:
        self.runner = runner
        self.name = name
        self.view_class, self.projection_class = PROJECTIONS[name]
        self.view: View = runner.views[name]
        self.projection = self.projection_class(self.view)
        self.state = "starting"
        self.error: dict[str, Any] | None = None
        self.progress: Progress | None = None
        self.last_rebuild: dict[str, Any] | None = None  # how the last rebuild went (set-based or not)
        self.last_vacuum: dict[str, Any] | None = None  # the VACUUM after it (View.vacuum)
        self._vacuum_after: Any = None  # the swap's time (the database's), while a VACUUM is due
        self._vacuum_since = 0.0  # when it became due (time.monotonic)
        self._vacuum_checked = 0.0
        self.thread = threading.Thread(target=self._run, name=f"projection-{name}", daemon=True)

    def _set(self, state: str, error: dict[str, Any] | None = None) -> None:
        self.state, self.error = state, error
        self._publish()

    def _publish(self) -> None:
        progress = self.progress.as_dict() if self.progress else None
        self.runner.control.publish(self.name, self.state, self.error, progress)

    # -- the loop ----------------------------------------------------------------------

    def _run(self) -> None:
        while not self.runner.stopping.is_set():
            try:
                with _AdvisoryLock(self.runner, self.name) as lock:
                    if not lock.held:
                        self.state = "standby"  # not published: the holder publishes the state
                        self.runner.stopping.wait(1.0)
                        continue
                    self._follow(lock)
            except DATABASE_UNAVAILABLE as e:
                log.warning("projection %s: database unavailable (%s); retrying", self.name, e)
                self.state = "waiting for database"
                self.runner.stopping.wait(1.0)
        if self.state not in ("standby", "stopped", "waiting for database"):
            try:
                self._set("not running")
            except DATABASE_UNAVAILABLE:
                pass

    def _follow(self, lock: _AdvisoryLock) -> None:
        """Apply batches while this worker holds the lock, until stopped."""
        if self.state != "stopped":
            self._set("live")
        while not self.runner.stopping.is_set():
            if self.runner.control.take_rebuild_request(self.name):
                self._rebuild()
                continue
            if self._vacuum_after is not None:
                self._vacuum_when_clear()
            if self.state == "stopped":
                self.runner.stopping.wait(1.0)
                lock.check()
                continue
            try:
                applied = self._step(self.projection, LIVE_BATCH)
            except _Stopped:
                continue
            if not applied:
                self.runner.wait_for_news(1.0)
                lock.check()
            elif applied < LIVE_BATCH:  # following a steady stream: let the next batch gather a little
                self.runner.stopping.wait(LIVE_LINGER)

    def _step(self, projection: BatchProjection[Any], window: int) -> int:
        """Apply the next window of the log to ``projection``; answer how far it moved (0: caught up).

        Only the events the projection handles are read and decoded (the library's topic
        filter), but the tracking position moves to the window's end: every event up to the
        head was committed before the head was read (the store serialises its inserts).
        """
        position = projection.view.position()
        head = self.runner.head()
        if head <= position:
            return 0
        end = min(position + window, head)
        notifications = self.runner.recorder.select_notifications(
            start=position + 1, stop=end, limit=window, topics=projection.topics
        )
        mapper = self.runner.app.mapper
        events = [(n.id, mapper.to_domain_event(n)) for n in notifications]
        self._apply(projection, events, end)
        if projection is self.projection:
            self.runner.advanced(self.name, end)
        return end - position

    def _apply(self, projection: BatchProjection[Any], events: list[tuple[int, Any]], end: int) -> None:
        """Apply ``events`` and move the tracking position to ``end``; event by event if the batch fails."""
        try:
            projection.process_batch(events, Tracking(APPLICATION, end))
        except IntegrityError:
            pass  # another worker recorded this window first (its tracking row is ahead)
        except Exception as e:  # noqa: BLE001  (find the event, keep what came before it)
            if database_unavailable(e):
                raise
            self._apply_one_by_one(projection, events, end)

    def _apply_one_by_one(self, projection: BatchProjection[Any], events: list[tuple[int, Any]], end: int) -> None:
        for position, event in events:
            self._apply_one(projection, position, event)
        if not events or events[-1][0] < end:
            projection.process_batch([], Tracking(APPLICATION, end))  # the failure was passing: go on

    def _apply_one(self, projection: BatchProjection[Any], position: int, event: Any) -> None:
        """Apply one event; one the view cannot hold as written, with its values normalised (noted); else stop.

        The same in a rebuild as live, so that both views agree. Only an event that fails even
        normalised (a bug) stops the projection.
        """
        try:
            projection.process_batch([(position, event)], Tracking(APPLICATION, position))
            return
        except Exception as e:  # noqa: BLE001  (reported in the status; the other projections go on)
            if database_unavailable(e):
                raise
            error_id = uuid.uuid4().hex[:12]  # shown to API clients in place of the detail, which stays in the log
            error = {"error_id": error_id, "position": position, "event": type(event).__name__,
                     "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=5)}
        fixed, notes = values.normalised_event(event)
        if notes:
            try:
                projection.process_batch([(position, fixed)], Tracking(APPLICATION, position),
                                         notes=[(position, type(event).__name__, notes)])
                log.warning("projection %s: event %s applied normalised: %s", self.name, position, "; ".join(notes))
                return
            except Exception as e:  # noqa: BLE001
                if database_unavailable(e):
                    raise
                log.exception("projection %s: event %s fails normalised too", self.name, position)
        log.error("projection %s stopped at event %s (error id %s):\n%s", self.name, position, error_id, error["traceback"])
        self.progress = None
        self._set("stopped", error)
        raise _Stopped from None

    # -- rebuilds ---------------------------------------------------------------------------

    def _load_set_based(self, set_based: SetBased, projection: BatchProjection[Any]) -> None:
        """Build ``projection``'s view up to the head inside PostgreSQL (projections/bulk.py), then in
        Python what the SQL left: the streams it refused, the event types it does not build.

        The SQL rows commit first, without a tracking position; the Python part moves it on, to
        the head at the end. Events after the head are applied by the usual windows afterwards.
        """
        target = projection.view
        head = self.runner.head()
        started = time.monotonic()
        refused = set_based.build(target, self.runner.recorder.events_table_name, head)
        self.last_rebuild = {"set_based": refused is not None, "python_streams": len(refused or ()),
                             "sql_seconds": round(time.monotonic() - started, 3)}
        if refused is None:  # the SQL could build nothing: the whole view in Python, as before
            return
        log.info("projection %s: built in SQL up to %s in %.1fs; %d streams left to Python", self.name, head,
                 time.monotonic() - started, len(refused))
        if refused:
            target.analysed.clear()  # the streams left to Python add rows after the SQL's ANALYZE: once more at the end
        rest = [topic for topic in projection.topics if topic not in set_based.topics]
        mapper = self.runner.app.mapper
        position = 0
        # Without refused streams only the other event types are left (a few hundred party events):
        # one query; else windows of the log, so that memory stays bounded however many were refused.
        window = REBUILD_BATCH if refused else head
        while position < head and not self.runner.stopping.is_set():
            end = min(position + window, head)
            notifications = set_based.left_to_python(target, self.runner.recorder.events_table_name, position, end,
                                                     rest, refused, projection.topics)
            if notifications or end == head:
                self._apply(projection, [(n.id, mapper.to_domain_event(n)) for n in notifications], end)
            position = end
        assert self.progress is not None
        self.progress.done = head

    def _rebuild(self) -> None:
        """Build the view anew into other tables from the first event, then swap them in at once.

        Readers keep the old tables (no longer updated) until the new ones have caught up.
        """
        self.progress = Progress(total=self.runner.head())
        self._set("rebuilding")
        target = self.view_class(self.view.datastore, suffix=NEXT, defer_indexes=True)
        target.drop()
        target.create_table()
        projection = self.projection_class(target)
        last_published = time.monotonic()
        with collector.holding(collector.FEWER):  # a rebuild's objects: collected far less often
            set_based = SET_BASED.get(self.name) if self.runner.set_based else None
            if set_based is not None:
                try:
                    self._load_set_based(set_based, projection)
                except _Stopped:
                    return
            while not self.runner.stopping.is_set():
                try:
                    done = self._step(projection, REBUILD_BATCH)
                except _Stopped:
                    return  # the live view stays as it was; the status names the failing event
                if not done:
                    break
                self.progress.done = target.position()
                self.progress.total = max(self.progress.total, self.runner.head())
                if time.monotonic() - last_published > 0.5:
                    self._publish()
                    last_published = time.monotonic()
        if self.runner.stopping.is_set():
            return
        target.create_deferred_indexes()
        target.replace(self.view)
        self.projection = self.projection_class(self.view)  # the live tables now hold the rebuilt rows
        with self.view.datastore.transaction(commit=False) as curs:
            self._vacuum_after = curs.execute("SELECT clock_timestamp() AS now").fetchone()["now"]
        self._vacuum_since = self._vacuum_checked = 0.0  # the loop vacuums next, once it can (_vacuum_when_clear)
        self.progress = None
        self._set("live")
        log.info("projection %s rebuilt", self.name)


    @property
    def vacuum_pending(self) -> bool:
        """Whether the view was rebuilt and not vacuumed yet."""
        return self._vacuum_after is not None

    def _vacuum_when_clear(self) -> None:
        """VACUUM the rebuilt view once no transaction older than its swap is still open.

        VACUUM marks a page all-visible only if every open transaction sees its rows; a rebuild
        of another view, running beside this one in one long transaction, would leave them
        unmarked (and autovacuum, which counts the inserts, would not come back for a long time).
        So the VACUUM waits for the older transactions, checked at most once a second, applying the
        log meanwhile; after VACUUM_WAIT seconds it runs anyway.
        """
        now = time.monotonic()
        if now - self._vacuum_checked < 1.0:
            return
        self._vacuum_checked = now
        self._vacuum_since = self._vacuum_since or now
        with self.view.datastore.transaction(commit=False) as curs:
            older = curs.execute(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
                " AND (backend_xmin IS NOT NULL OR backend_xid IS NOT NULL) AND xact_start < %s",
                (self._vacuum_after,)).fetchone()["n"]  # (between statements a writer has an xid, no xmin)
        if older and now - self._vacuum_since < VACUUM_WAIT:
            return
        self.last_vacuum = {**self.view.vacuum(), "waited_seconds": round(now - self._vacuum_since, 3)}
        self._vacuum_after = None
        log.info("projection %s: vacuumed after its rebuild: %s", self.name, self.last_vacuum)


class _Stopped(Exception):
    """A projection stopped on an event it could not apply."""


class Runner:
    """The projections of one process, and the LISTEN connection that wakes them."""

    set_based = True  # rebuild the views that can be inside PostgreSQL (SET_BASED); False: all in Python

    def __init__(self, app: ClaimsApplication, names: list[str] | None = None) -> None:
        self.app = app
        names = names or list(PROJECTIONS)
        # A pool of the workers' own: however busy the requests keep the application's pool, the
        # workers always get a connection (to read the log, and to write their views).
        datastore = self._datastore = own_datastore(datastore_of(app), len(names))
        self.recorder = type(app.recorder)(datastore, events_table_name=app.recorder.events_table_name)  # type: ignore[call-arg, attr-defined]
        self.views = views(app, datastore)
        self.control = Control(datastore)
        self.stopping = threading.Event()
        self._news = threading.Condition()
        self.workers = {name: Worker(self, name) for name in names}
        self._listener = threading.Thread(target=self._listen, name="projection-listener", daemon=True)
        self._conninfo = datastore.pool.conninfo
        self._connect_kwargs = {k: v for k, v in datastore.pool.kwargs.items() if k != "row_factory"}
        self.schema = datastore.schema
        # Told (name, position) each time a live projection moves on: reads waiting for a position wake.
        self.listeners: list[Callable[[str, int], None]] = []

    def advanced(self, name: str, position: int) -> None:
        for listener in self.listeners:
            try:
                listener(name, position)
            except Exception:  # noqa: BLE001  (a listener gone, say its event loop closed: the worker goes on)
                log.debug("position listener failed", exc_info=True)

    def start(self) -> Runner:
        self._listener.start()
        for worker in self.workers.values():
            worker.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._wake()
        for worker in self.workers.values():
            if worker.thread.is_alive():
                worker.thread.join(timeout=10)
        if self._listener.is_alive():
            self._listener.join(timeout=5)
        if not any(w.thread.is_alive() for w in self.workers.values()):
            self._datastore.close()

    def connect(self, application_name: str | None = None) -> psycopg.Connection[Any]:
        kwargs = dict(self._connect_kwargs)
        if application_name:
            kwargs["application_name"] = application_name
        return psycopg.connect(self._conninfo, autocommit=True, **kwargs)

    def head(self) -> int:
        return self.recorder.max_notification_id() or 0

    def wait_for_news(self, timeout: float) -> None:
        with self._news:
            self._news.wait(timeout)

    def _wake(self) -> None:
        with self._news:
            self._news.notify_all()

    def _listen(self) -> None:
        channel = self.app.recorder.channel_name  # type: ignore[attr-defined]
        while not self.stopping.is_set():
            try:
                with self.connect() as conn:
                    conn.execute(SQL("LISTEN {}").format(Identifier(channel)))
                    while not self.stopping.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            self._wake()
            except psycopg.OperationalError:
                self.stopping.wait(1.0)


def own_datastore(shared: PostgresDatastore, workers: int) -> PostgresDatastore:
    """A datastore like ``shared`` (same database, schema and settings) with a small pool of its own."""
    kwargs = shared.pool.kwargs
    return PostgresDatastore(
        kwargs["dbname"], kwargs["host"], kwargs["port"], kwargs["user"], kwargs["password"],
        connect_timeout=shared.pool.timeout, pool_size=1, max_overflow=workers + 1, schema=shared.schema,
        pre_ping=shared.pre_ping, lock_timeout=shared.lock_timeout,
        idle_in_transaction_session_timeout=shared.idle_in_transaction_session_timeout,
        single_row_tracking=shared.single_row_tracking, originator_id_type=shared.originator_id_type,  # type: ignore[arg-type]
    )


class _AdvisoryLock:
    """A session holding one projection's advisory lock for as long as it is open."""

    def __init__(self, runner: Runner, name: str) -> None:
        self.key = lock_key(runner.schema, name)
        self.name = name
        self.runner = runner
        self.conn: psycopg.Connection[Any] | None = None
        self.held = False

    def __enter__(self) -> _AdvisoryLock:
        # Named, so that pg_stat_activity shows which process holds (or waits for) which projection.
        self.conn = self.runner.connect(f"claims-projection {self.name} pid {os.getpid()}")
        row = self.conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        self.held = bool(row and row[0])
        return self

    def check(self) -> None:
        """Raise OperationalError if the session holding the lock has gone (and the lock with it)."""
        assert self.conn is not None
        self.conn.execute("SELECT 1")

    def __exit__(self, *exc: object) -> None:
        if self.conn is not None:
            self.conn.close()  # ends the session, which frees the lock
