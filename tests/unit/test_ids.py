"""Random ids handed out from a buffer: still version 4, unique across threads and forked workers."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

from domain.ids import new_id


def test_new_ids_are_random_version_4_uuids_never_repeated_across_threads() -> None:
    with ThreadPoolExecutor(8) as pool:
        ids = [i for chunk in pool.map(lambda _: [new_id() for _ in range(1_000)], range(8)) for i in chunk]
    assert len(set(ids)) == len(ids) == 8_000
    assert all(i.version == 4 and i.variant == "specified in RFC 4122" for i in ids)


def test_a_forked_worker_does_not_hand_out_its_parents_next_ids() -> None:
    new_id()  # the buffer holds the parent's next ids now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child (as under `claims serve --workers N`): its next ids, to the parent
        os.write(write, b"".join(new_id().bytes for _ in range(10)))
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    data = os.read(read, 160)
    os.close(read)
    child = {UUID(bytes=data[i:i + 16]) for i in range(0, len(data), 16)}
    parent = {new_id() for _ in range(10)}
    assert len(child) == 10
    assert not child & parent
