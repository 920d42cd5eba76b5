"""The collector paused while batches are built, and running again once the last one is done."""

from __future__ import annotations

import gc
import threading

from api import collector


def test_the_collector_runs_again_only_once_the_last_concurrent_batch_is_done() -> None:
    assert gc.isenabled()
    inside, leave = threading.Event(), threading.Event()

    def other_batch() -> None:
        with collector.paused():
            inside.set()
            leave.wait(5)

    thread = threading.Thread(target=other_batch)
    with collector.paused():
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
        with collector.paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_collector_runs_again_after_a_batch_that_failed() -> None:
    try:
        with collector.paused():
            raise ValueError("a refused batch")
    except ValueError:
        pass
    assert gc.isenabled()
