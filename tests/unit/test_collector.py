"""The collector's settings changed while batches or rebuilds run, and restored once the last one is done."""

from __future__ import annotations

import gc
import threading

from adapters import collector


def test_the_collector_runs_again_only_once_the_last_concurrent_batch_is_done() -> None:
    assert gc.isenabled()
    inside, leave = threading.Event(), threading.Event()

    def other_batch() -> None:
        with collector.holding(collector.PAUSED):
            inside.set()
            leave.wait(5)

    thread = threading.Thread(target=other_batch)
    with collector.holding(collector.PAUSED):
        thread.start()
        assert inside.wait(5)
        assert not gc.isenabled()
    assert not gc.isenabled()  # the other batch is still being built
    leave.set()
    thread.join(5)
    assert gc.isenabled()


def test_the_collector_is_left_off_when_it_was_off_before() -> None:
    gc.disable()
    try:
        with collector.holding(collector.PAUSED):
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_collector_runs_again_after_a_batch_that_failed() -> None:
    try:
        with collector.holding(collector.PAUSED):
            raise ValueError("a refused batch")
    except ValueError:
        pass
    assert gc.isenabled()


def test_a_rebuild_freezes_what_was_alive_and_raises_the_thresholds_until_the_last_rebuild_ends() -> None:
    before = gc.get_threshold()
    with collector.holding(collector.FEWER):
        assert gc.get_threshold() == (100_000, 50, 100)
        assert gc.get_freeze_count() > 0
        with collector.holding(collector.FEWER):  # a second rebuild at the same time
            pass
        assert gc.get_threshold() == (100_000, 50, 100)  # the first is still running
    assert gc.get_threshold() == before


def test_a_batch_during_a_rebuild_leaves_the_rebuilds_settings_as_they_were() -> None:
    before = gc.get_threshold()
    with collector.holding(collector.FEWER):
        with collector.holding(collector.PAUSED):
            assert not gc.isenabled()
        assert gc.isenabled()
        assert gc.get_threshold() == (100_000, 50, 100)
    assert gc.get_threshold() == before
    assert gc.isenabled()
