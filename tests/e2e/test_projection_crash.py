"""A `claims project` worker killed (SIGKILL) half-way through a long log, then restarted, ends with
exactly the views a clean rebuild from the first event makes: no event lost, none applied twice.

The log is written first, with no projection running, so the worker has many batches to apply;
the test process watches the views' tracking positions and kills the worker as soon as it is
part-way through. Every process (the test's own Services and each `python -m api.cli`) shares
the embedded PostgreSQL of one temporary CLAIMS_HOME.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.settings import Settings
from api.bootstrap import Services, bootstrap
from domain.base import Meta
from domain.claim import Claim
from tests.e2e import homes
from tests.integration.conftest import view_rows

pytestmark = pytest.mark.e2e

CLAIMS = 6_000  # with their follow-ups, some 9,000 events: about nine live batches per projection
CLAIM_BATCH = 500
TOPICS = [f"topic-{i}" for i in range(12)]
STANCES = ("positive", "negative", "neutral", "mixed")


def _meta(n: int) -> Meta:
    return Meta(recorded_at=datetime.now(UTC), recorded_by="crash-test", correlation_id=f"crash-{n}")


class Home(homes.Home):
    """A home with the test's own Services on it (to write the log and read the views)."""

    def __init__(self, path: Path, logs: Path) -> None:
        super().__init__(path, logs)
        self.settings = Settings(home=path, database_url=None, db_schema="public", run_projections=False,
                                 pool_size=2, pool_max_overflow=4)

    def services(self) -> Services:
        return bootstrap(self.settings)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    yield from homes.home_in(Home, tmp_path)


# -- the log ---------------------------------------------------------------------------------------


def _parties(app: Any) -> list[str]:
    """States, governments under them, people under those; answers the people's slugs."""
    m = _meta(0)
    people = []
    for s in range(3):
        app.register_party(f"state-{s}", f"State {s}", "state", None, [f"Staat {s}"], m)
        for g in range(2):
            app.register_party(f"gov-{s}-{g}", f"Government {s}.{g}", "government", f"state-{s}", [], m)
            for p in range(3):
                slug = f"person-{s}-{g}-{p}"
                app.register_party(slug, f"Person {s} {g} {p}", "person", f"gov-{s}-{g}", [f"P{s}{g}{p}"], m)
                people.append(slug)
    app.register_party("outlet", "Outlet", "media", None, [], m)
    return people


def _source(n: int) -> dict[str, Any]:
    return {"url": f"https://example.org/crash/{n}", "outlet": "Outlet", "title": f"Article {n}",
            "published_at": "2025-12-21T12:00:00+00:00", "language": "de"}


def write_log(services: Services) -> dict[str, Any]:
    """Record parties, topics, claims and their follow-ups; answer what the views must then show."""
    app, rng = services.app, random.Random(20251221)
    people = _parties(app)
    for topic in TOPICS[:4]:
        app.put_topic(topic, f"Topic {topic}", "defined before any claim", _meta(0))
    claims: dict[uuid.UUID, Claim] = {}
    expected: dict[str, dict[str, Any]] = {}
    moved = 0  # events that close a claim's interval in the positions view (and open the next)
    for start in range(0, CLAIMS, CLAIM_BATCH):
        items = []
        for n in range(start, min(start + CLAIM_BATCH, CLAIMS)):
            speaker = rng.choice(people)
            co = rng.sample([p for p in people if p != speaker], rng.choice((0, 0, 1, 2)))
            day = 1 + n % 28
            items.append({
                "id": uuid.UUID(int=rng.getrandbits(128), version=4),
                "speaker": speaker, "co_speakers": co, "about": rng.choice([None, *people]),
                "topic": rng.choice(TOPICS), "kind": rng.choice(("statement", "report", "assessment")),
                "text": f"Aussage Nummer {n} über die Gespräche", "language": rng.choice(("de", "en", "uk")),
                "verbatim": rng.random() < 0.5, "stance": rng.choice(STANCES),
                "position": rng.choice([None, f"position {n}"]),
                "stated_at": rng.choice([f"2025-12-{day:02d}", f"2025-12-{day:02d}T{n % 24:02d}:30:00+01:00"]),
                "source": _source(n // 10), "facts": {"n": n} if n % 7 == 0 else {},
            })
        if start == 0:
            # The application's own batch write (it defines the topics no claim named before).
            saved = app.record_claims(items, _meta(start)).value
        else:
            # The same events, without record_claims' per-claim look-ups (the parties are given by
            # id, the topics exist): ten times faster, so the log can be long enough to kill in.
            m = _meta(start)
            saved = [Claim(meta=m, **item) for item in items]
            app.save(*saved)
        for claim in saved:
            claims[claim.id] = claim
            expected[str(claim.id)] = {"version": 1, "status": "active", "corroborations": 0, "disputes": 0}

        # Follow-ups on claims recorded so far, so that a claim's events spread over the log (and batches).
        ids = list(claims)
        dirty: dict[uuid.UUID, Claim] = {}
        m = _meta(start + 1)
        for _ in range(CLAIM_BATCH // 2):
            claim = claims[rng.choice(ids)]
            if claim.status != "active":
                continue
            action = rng.random()
            if action < 0.30:
                change = rng.choice([{"stance": rng.choice([s for s in STANCES if s != claim.stance])},
                                     {"text": claim.text + " (berichtigt)"},
                                     {"stated_at": "2025-12-31", "position": f"corrected {claim.id}"}])
                if all(getattr(claim, k) == v for k, v in change.items()):
                    continue
                claim.correct(change, "a correction", m)
                moved += 1
            elif action < 0.60:
                claim.corroborate(rng.choice(people), _source(rng.randrange(400)), "backed up", m)
                expected[str(claim.id)]["corroborations"] += 1
            elif action < 0.75:
                claim.dispute(rng.choice(people), None, "contradicted", None, m)
                expected[str(claim.id)]["disputes"] += 1
            elif action < 0.88:
                claim.retract("withdrawn", None, m)
                expected[str(claim.id)]["status"] = "retracted"
                moved += 1
            else:
                other = rng.choice(ids)
                if other == claim.id:
                    continue
                claim.supersede(str(other), "newer statement", m)
                expected[str(claim.id)]["status"] = "superseded"
                moved += 1
            expected[str(claim.id)]["version"] = claim.version
            dirty[claim.id] = claim
        app.save(*dirty.values())

        if start == CLAIMS // 2:  # party events between claims: positions' party intervals move
            app.update_party("person-0-0-0", {"affiliation": "gov-1-0"}, "changed sides", _meta(start + 2))
            app.merge_party("person-2-1-2", "person-2-1-1", "the same person", _meta(start + 3))
            people.remove("person-2-1-2")  # the application would resolve it to person-2-1-1 from now on
            app.add_alias("person-1-1-1", "Eins Eins Eins", _meta(start + 4))
            app.put_topic(TOPICS[0], "Topic 0, renamed", None, _meta(start + 5))

    corroborated = max(expected, key=lambda c: expected[c]["corroborations"])
    return {
        "claims": expected,
        "corroborated": corroborated,
        "moved": moved,
        "parties": 3 + 6 + 18 + 1,
        "party_moves": 2,  # the affiliation change and the merge
        "topics": len(TOPICS),
        "head": app.recorder.max_notification_id(),
    }


# -- helpers ------------------------------------------------------------------------------------------


def positions(services: Services) -> dict[str, int]:
    return {name: view.position() for name, view in services.views.items()}


def wait_caught_up(services: Services, head: int, process: subprocess.Popen[bytes], log: Path,
                   timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while any(p < head for p in positions(services).values()):
        assert process.poll() is None, f"claims project exited ({process.returncode}):\n{log.read_text()}"
        assert time.monotonic() < deadline, (positions(services), head)
        time.sleep(0.05)


def check_contents(services: Services, written: dict[str, Any]) -> None:
    """The views hold each claim, party and topic written, and each event's effect exactly once."""
    rows = view_rows(services, "claims")["claim"]
    assert len(rows) == len(written["claims"])
    with services.views["claims"].datastore.transaction(commit=False) as curs:
        docs = {str(r["id"]): r["doc"] for r in curs.execute(services.views["claims"].q("SELECT id, doc FROM {claim}"))}
        open_intervals = curs.execute(services.views["positions"].q(
            "SELECT count(*) AS open, count(DISTINCT claim) AS claims FROM {claim} WHERE sys_to IS NULL")).fetchone()
        intervals = curs.execute(services.views["positions"].q("SELECT count(*) AS n FROM {claim}")).fetchone()["n"]
        party_intervals = curs.execute(services.views["positions"].q(
            "SELECT count(*) AS n, count(*) FILTER (WHERE sys_to IS NULL) AS open FROM {party}")).fetchone()
    assert docs.keys() == written["claims"].keys()
    seen = {cid: {"version": d["version"], "status": d["status"], "corroborations": len(d["corroborations"]),
                  "disputes": len(d["disputes"])} for cid, d in docs.items()}
    assert seen == written["claims"]
    assert len(docs[written["corroborated"]]["corroborations"]) == written["claims"][written["corroborated"]][
        "corroborations"] >= 2
    assert open_intervals == {"open": len(written["claims"]), "claims": len(written["claims"])}
    assert intervals == len(written["claims"]) + written["moved"]
    assert party_intervals == {"n": written["parties"] + written["party_moves"], "open": written["parties"]}
    assert len(view_rows(services, "parties")["party"]) == written["parties"]
    assert len(view_rows(services, "topics")["topic"]) == written["topics"]


# -- the test --------------------------------------------------------------------------------------------


def test_a_worker_killed_between_events_resumes_to_the_views_of_a_clean_rebuild(home: Home) -> None:
    timings: dict[str, float] = {}
    services = home.services()  # the test's own handle on the database: it writes the log, then watches
    try:
        t0 = time.monotonic()
        written = write_log(services)
        head = written["head"]
        timings["write log"] = time.monotonic() - t0
        assert positions(services) == dict.fromkeys(services.views, 0)

        # 1. A worker, killed once every projection is part-way (or, should one finish first, at once).
        t0 = time.monotonic()
        worker, log = home.start("project")
        deadline = time.monotonic() + 60
        while True:
            seen = positions(services)
            midway = [name for name, p in seen.items() if 0 < p < head]
            if midway and (len(midway) == len(seen) or any(p >= head for p in seen.values())):
                os.kill(worker.pid, signal.SIGKILL)
                break
            assert worker.poll() is None, f"claims project exited ({worker.returncode}):\n{log.read_text()}"
            assert not all(p >= head for p in seen.values()), "the worker finished before it could be killed"
            assert time.monotonic() < deadline, seen
            time.sleep(0.002)
        assert worker.wait(10) == -signal.SIGKILL
        at_kill = positions(services)
        timings["until kill"] = time.monotonic() - t0
        assert any(0 < p < head for p in at_kill.values()), (at_kill, head)
        assert home.postmaster() is not None  # killing a client leaves the shared server up

        # 2. A new worker on the same home: it resumes from each view's tracked position.
        t0 = time.monotonic()
        worker, log = home.start("project")
        wait_caught_up(services, head, worker, log)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0, log.read_text()
        assert "Traceback" not in log.read_text(), log.read_text()
        timings["restart to caught up"] = time.monotonic() - t0
        resumed = {name: view_rows(services, name) for name in services.views}
        check_contents(services, written)

        # 3. A clean rebuild of every projection from the first event.
        t0 = time.monotonic()
        code, output = home.run("projections", "rebuild", "--all")
        assert code == 0, output
        timings["rebuild"] = time.monotonic() - t0
        assert positions(services) == dict.fromkeys(services.views, head)
        for name in services.views:
            assert view_rows(services, name) == resumed[name], f"{name}: the resumed view differs from a rebuild"
        check_contents(services, written)
    finally:
        services.close()
    print(f"\nhead {head}, positions at kill {at_kill}, timings " +
          ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))


def test_the_embedded_server_stops_when_the_last_live_user_leaves_after_one_was_killed(home: Home) -> None:
    worker, log = home.start("project")
    deadline = time.monotonic() + 60
    while "running projections" not in log.read_text(errors="replace"):
        assert worker.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(10)

    code, output = home.run("projections", "status")  # a later process: it joins the server, then leaves
    assert code == 0, output
    deadline = time.monotonic() + 5
    while home.postmaster() is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert home.postmaster() is None, f"the embedded PostgreSQL outlived its last live user; handles {home.handles()}"
