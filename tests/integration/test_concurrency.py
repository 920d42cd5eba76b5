"""What concurrent writers can and cannot do, on a real PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any

from api.bootstrap import Services
from domain.errors import AliasTaken, Conflict, StaleVersion
from tests.conftest import meta
from tests.integration.conftest import claim_body


def test_concurrent_registrations_of_one_alias_let_exactly_one_win(services: Services) -> None:
    app, writers = services.app, 8
    barrier = Barrier(writers)

    def register(i: int) -> str:
        barrier.wait()
        try:
            app.register_party(f"dmitriev-{i}", f"Dmitriev {i}", "person", None, ["Дмитриев"], meta())
        except AliasTaken:
            return "taken"
        except Conflict:
            return "conflict"
        return "registered"

    with ThreadPoolExecutor(writers) as pool:
        outcomes = list(pool.map(register, range(writers)))
    assert outcomes.count("registered") == 1
    assert outcomes.count("taken") == writers - 1
    winner = outcomes.index("registered")
    assert app.resolve_party("Dmitriev").slug == f"dmitriev-{winner}"


def test_concurrent_corrections_of_one_version_let_exactly_one_win(api: Any, services: Services) -> None:
    claim = api.post("/v1/claims", json=claim_body()).json()
    writers = 8
    barrier = Barrier(writers)
    stances = ["positive", "neutral", "mixed", "positive", "neutral", "mixed", "positive", "neutral"]

    def correct(stance: str) -> str:
        barrier.wait()
        try:
            services.app.correct_claim(claim["id"], 1, {"stance": stance}, "race", meta())
        except StaleVersion:
            return "stale"
        return "corrected"

    with ThreadPoolExecutor(writers) as pool:
        outcomes = list(pool.map(correct, stances))
    assert outcomes.count("corrected") == 1 and outcomes.count("stale") == writers - 1
    assert api.get(f"/v1/claims/{claim['id']}").json()["version"] == 2


def test_concurrent_corroborations_are_all_kept(api: Any) -> None:
    claim = api.post("/v1/claims", json=claim_body()).json()
    writers = 6
    with ThreadPoolExecutor(writers) as pool:
        codes = list(pool.map(
            lambda i: api.post(f"/v1/claims/{claim['id']}/corroborations", json={"by": "bbc", "note": str(i)}).status_code,
            range(writers),
        ))
    assert codes == [201] * writers
    notes = sorted(c["note"] for c in api.get(f"/v1/claims/{claim['id']}").json()["corroborations"])
    assert notes == [str(i) for i in range(writers)]
