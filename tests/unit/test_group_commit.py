"""Group commit: concurrent record_claim calls share transactions, each still answered on its own."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import OperationalError

from domain.application import ClaimsApplication, Saved
from domain.errors import ClaimExists, InvalidRequest, UnknownParty
from adapters.group_commit import GroupCommitter
from domain.topic import Topic
from tests.conftest import meta
from tests.unit.conftest import claim_fields


class Transactions:
    """Wraps the recorder's insert_events (the store stays the real in-memory one): counts the
    transactions and their sizes, and can hold the first one until ``release``."""

    def __init__(self, app: ClaimsApplication, *, hold_first: bool = False, delay: float = 0.0) -> None:
        self.sizes: list[int] = []
        self.started = threading.Event()
        self.gate = threading.Event()
        if not hold_first:
            self.gate.set()
        self.delay = delay
        self.fail: Exception | None = None
        self._insert = app.recorder.insert_events
        app.recorder.insert_events = self.insert  # type: ignore[method-assign]

    def insert(self, stored_events: Any, **kwargs: Any) -> Any:
        self.sizes.append(len(stored_events))
        self.started.set()
        assert self.gate.wait(10)
        time.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        return self._insert(stored_events, **kwargs)

    def release(self) -> None:
        self.gate.set()


@pytest.fixture
def held(parties: ClaimsApplication) -> Iterator[tuple[ClaimsApplication, Transactions, Future[Any]]]:
    """The writer busy with a first claim's transaction, so that what is submitted next forms one group."""
    tx = Transactions(parties, hold_first=True)
    first = parties.submit_claim(claim_fields(text="first"), meta())
    assert tx.started.wait(5)
    yield parties, tx, first
    tx.release()
    parties.close()


def test_concurrent_claims_share_transactions_and_each_gets_its_own_position(parties: ClaimsApplication) -> None:
    tx = Transactions(parties, delay=0.01)  # a commit takes a while, as on a real database
    writers = 32
    barrier = threading.Barrier(writers)

    def record(i: int) -> Saved[Any]:
        barrier.wait()
        return parties.record_claim(claim_fields(text=f"Aussage {i}"), meta())

    with ThreadPoolExecutor(writers) as pool:
        saved = list(pool.map(record, range(writers)))
    positions = [s.position for s in saved]
    assert len(set(positions)) == writers and all(p is not None for p in positions)
    for i, s in enumerate(saved):
        assert parties.get_claim(s.value.id).text == f"Aussage {i}"
        last = max(n.id for n in parties.recorder.select_notifications(1, 1000) if n.originator_id == s.value.id)
        assert s.position >= last
    assert sum(tx.sizes) == writers + 1  # the claims, and the topic the first group defined
    assert len(tx.sizes) < writers


def test_a_lone_claim_is_committed_at_once(parties: ClaimsApplication) -> None:
    started = time.monotonic()
    saved = parties.record_claim(claim_fields(), meta())
    assert saved.position is not None and time.monotonic() - started < 1


def test_a_bad_claim_among_concurrent_good_ones_fails_alone(parties: ClaimsApplication) -> None:
    writers = 16
    barrier = threading.Barrier(writers)

    def record(i: int) -> str:
        barrier.wait()
        try:
            parties.record_claim(claim_fields(text=f"Aussage {i}", speaker="Nobody" if i == 5 else "Peskow"), meta())
        except UnknownParty as e:
            return e.field or ""
        return "recorded"

    with ThreadPoolExecutor(writers) as pool:
        outcomes = list(pool.map(record, range(writers)))
    assert outcomes == ["recorded"] * 5 + ["speaker"] + ["recorded"] * 10


def test_claims_in_one_group_naming_the_same_new_topic_define_it_once(held: Any) -> None:
    app, tx, first = held
    a = app.submit_claim(claim_fields(text="a", topic="geneva-talks"), meta())
    b = app.submit_claim(claim_fields(text="b", topic="geneva-talks"), meta())
    tx.release()
    first.result(5)
    saved_a, saved_b = a.result(5), b.result(5)
    assert tx.sizes == [2, 3]  # first claim and its topic; then a, b and one topic, in one transaction
    topic_events = list(app.events.get(Topic.create_id("geneva-talks")))
    assert len(topic_events) == 1 and app.get_topic("geneva-talks").title == "geneva-talks"
    assert {app.get_claim(s.value.id).topic for s in (saved_a, saved_b)} == {"geneva-talks"}
    # each answer's position covers the topic its claim names
    topic_id = topic_events[0].originator_id
    topic_position = next(n.id for n in app.recorder.select_notifications(1, 100) if n.originator_id == topic_id)
    assert saved_a.position >= topic_position and saved_b.position >= topic_position
    assert saved_a.position != saved_b.position


def test_a_reused_claim_id_in_a_group_fails_that_claim_alone(held: Any) -> None:
    app, tx, first = held
    claim_id = uuid4()
    good = app.submit_claim(claim_fields(text="good", topic="vienna-talks"), meta())
    original = app.submit_claim(claim_fields(id=claim_id, text="original"), meta())
    reused = app.submit_claim(claim_fields(id=claim_id, text="other content"), meta())
    also_good = app.submit_claim(claim_fields(text="also good", topic="vienna-talks"), meta())
    tx.release()
    first.result(5)
    with pytest.raises(ClaimExists):
        reused.result(5)
    assert app.get_claim(good.result(5).value.id).text == "good"
    assert app.get_claim(also_good.result(5).value.id).text == "also good"
    assert app.get_claim(original.result(5).value.id).text == app.get_claim(claim_id).text == "original"
    assert len(list(app.events.get(Topic.create_id("vienna-talks")))) == 1
    assert tx.sizes[1] == 5  # the group: four claims (two with one id) and vienna-talks once (miami-talks exists now)
    assert len(tx.sizes) == 2 + 4  # then each on its own: the one reusing the id fails to commit


def test_a_failed_transaction_fails_every_claim_of_its_group(held: Any) -> None:
    app, tx, first = held
    tx.fail = OperationalError("the database went away")
    group = [app.submit_claim(claim_fields(text=f"Aussage {i}"), meta()) for i in range(3)]
    tx.release()
    for future in [first, *group]:
        with pytest.raises(OperationalError):
            future.result(5)
    tx.fail = None
    assert app.record_claim(claim_fields(text="after"), meta()).position is not None


def test_without_group_commit_each_claim_is_its_own_transaction() -> None:
    app = ClaimsApplication(env={"PERSISTENCE_MODULE": "adapters.memory"})  # no pipeline: no group commit
    m = meta()
    app.register_party("dmitry-peskov", "Dmitry Peskov", "person", None, ["Peskow"], m)
    app.record_claim(claim_fields(), m)  # defines the topic: concurrent first claims on a new topic clash here
    tx = Transactions(app, delay=0.01)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: app.record_claim(claim_fields(text=f"Aussage {i}"), meta()), range(8)))
    assert len(tx.sizes) == 8


def test_close_commits_what_was_submitted_and_stops_the_writer(held: Any) -> None:
    app, tx, first = held
    queued = app.submit_claim(claim_fields(text="queued"), meta())
    writer = app._pipeline.committer._writer  # type: ignore[union-attr]  # noqa: SLF001  (the thread that must end)
    assert writer is not None and writer.is_alive()
    closer = threading.Thread(target=app.close)
    closer.start()
    tx.release()
    closer.join(5)
    assert not closer.is_alive()
    assert first.result(0).position is not None and queued.result(0).position is not None
    assert not writer.is_alive()
    with pytest.raises(RuntimeError, match="closed"):
        app.submit_claim(claim_fields(text="too late"), meta())


def _committer(commit: Callable[[list[int]], list[Any]], **kwargs: Any) -> GroupCommitter[int, Any]:
    return GroupCommitter(commit, **kwargs)


def test_committer_bounds_groups_and_skips_cancelled_items() -> None:
    gate, groups = threading.Event(), []

    def commit(items: list[int]) -> list[Any]:
        gate.wait(5)
        groups.append(items)
        return [ValueError(i) if i == 3 else i * 10 for i in items]

    committer = _committer(commit, max_items=2)
    futures = [committer.submit(i) for i in range(6)]
    assert futures[4].cancel()
    gate.set()
    assert [f.result(5) for f in futures[:3]] == [0, 10, 20]
    with pytest.raises(ValueError):
        futures[3].result(5)
    with pytest.raises(CancelledError):
        futures[4].result(5)
    assert futures[5].result(5) == 50
    committer.close()
    assert all(1 <= len(g) <= 2 for g in groups)  # never more than max_items
    assert sorted(i for g in groups for i in g) == [0, 1, 2, 3, 5]  # each once; the cancelled one never


def test_committer_writer_ends_when_idle_and_starts_again() -> None:
    committer = _committer(lambda items: items, idle_seconds=0.05, name="idle-test")
    assert committer.submit(1).result(5) == 1
    deadline = time.monotonic() + 5
    while any(t.name == "idle-test" for t in threading.enumerate()):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert committer.submit(2).result(5) == 2
    committer.close()
    assert not any(t.name == "idle-test" for t in threading.enumerate())


def test_a_claim_whose_save_fails_otherwise_fails_alone_and_its_group_is_committed(held: Any) -> None:
    app, tx, first = held
    save = app.save

    def failing_for_the_culprit(*items: Any) -> Any:  # one claim the store cannot take, for any reason
        if any(getattr(item, "text", None) == "culprit" for item in items):
            raise RuntimeError("this claim cannot be stored")
        return save(*items)

    app.save = failing_for_the_culprit  # type: ignore[method-assign]
    innocent = [app.submit_claim(claim_fields(text=f"Aussage {i}"), meta()) for i in range(5)]
    culprit = app.submit_claim(claim_fields(text="culprit"), meta())
    tx.release()
    first.result(5)
    with pytest.raises(RuntimeError, match="cannot be stored"):
        culprit.result(5)
    assert [app.get_claim(f.result(5).value.id).text for f in innocent] == [f"Aussage {i}" for i in range(5)]


def test_a_claim_no_encoding_holds_is_refused_naming_its_field_and_its_group_is_committed(held: Any) -> None:
    app, tx, first = held
    innocent = [app.submit_claim(claim_fields(text=f"Aussage {i}"), meta()) for i in range(5)]
    culprit = app.submit_claim(claim_fields(facts={"note": "\ud800"}), meta())  # a lone surrogate
    tx.release()
    first.result(5)
    with pytest.raises(InvalidRequest) as refused:
        culprit.result(5)
    assert refused.value.field == "facts"
    assert all(app.get_claim(f.result(5).value.id) for f in innocent)
