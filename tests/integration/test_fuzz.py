"""Schemathesis against the OpenAPI schema: every operation, with an admin key, finds no 500 and no
answer that breaks the schema (its body, its status code).

A bounded, reproducible run (CLAIMS_FUZZ_EXAMPLES cases per operation, 15 unless set; derandomized
unless CLAIMS_FUZZ_RANDOM is set) is part of the suite; `make fuzz` runs a longer one. Parties, topics
and claims are recorded first, and about half the cases name them (in the path, the query, the body,
If-Match), so that operations reach real data and real writes, not only 404 and "unknown party".

Each operation is a test of its own, driven by the Hypothesis strategies schemathesis derives from
the schema (valid and invalid requests alike). Schemathesis' own pytest integration
(`schemathesis.pytest.from_fixture`) is not used: it sets `Node._nodeid`, which pytest 9.2 no longer has.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from adapters.settings import Settings
from api import consistency
from api.app import create_app
from api.bootstrap import Services
from tests.conftest import meta
from tests.integration.conftest import ORF, PARTIES, caught_up, claim_body

EXAMPLES = int(os.environ.get("CLAIMS_FUZZ_EXAMPLES", "15"))
DERANDOMIZE = not os.environ.get("CLAIMS_FUZZ_RANDOM")  # set: new cases each run (`make fuzz FUZZ_RANDOM=1`)
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]

CONFIG = schemathesis.Config.from_dict({
    "generation": {"with-security-parameters": False},  # the key is sent with every case
    # 504 is no server error here but the documented answer to a read whose X-Min-Position the
    # projections do not reach in time (a generated position is mostly past the log's head).
    "checks": {"not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "504"]}},
})
# The schema is read from an app that is never started: no database is needed to collect the tests.
SCHEMA = schemathesis.openapi.from_dict(create_app(Settings(database_url="postgresql://unused")).openapi(),
                                        config=CONFIG)
OPERATIONS = {op.label: op for op in (result.ok() for result in SCHEMA.get_all_operations())}

CLAIM_IDS = [uuid.UUID(int=n, version=4) for n in range(1, 4)]
PARTY_IDS = [p["id"] for p in PARTIES]
TOPIC_IDS = ["miami-talks", "security-guarantees"]
KNOWN = {  # a parameter's or body field's name -> real values a case may name instead of generated ones
    "claim_id": [str(c) for c in CLAIM_IDS],
    "by_claim": [str(c) for c in CLAIM_IDS],
    "counter_claim": [str(c) for c in CLAIM_IDS],
    "party_id": PARTY_IDS,
    "speaker": ["Peskow", *PARTY_IDS],  # an alias, too
    "about": PARTY_IDS,
    "by": PARTY_IDS,
    "into": PARTY_IDS,
    "affiliation": PARTY_IDS,
    "party": PARTY_IDS,
    "topic_id": TOPIC_IDS,
    "topic": TOPIC_IDS,
    "name": ["claims", "parties", "topics", "positions"],
    "stated_at": ["2025-12-21", "2025-12-22T18:30:00+01:00"],  # the schema says only "a string"
    "url": ["https://example.org/seeds/1", "https://example.org/seeds/2"],  # and here "a string" too
}


@pytest.fixture
def fuzz_app(services: Services, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, str]:
    """The app on a seeded database with live projections, and an admin key's token."""
    app = services.app
    for party in PARTIES:
        app.register_party(party["id"], party["name"], party["kind"], party.get("affiliation"),
                           party.get("aliases", []), meta())
    app.put_topic("security-guarantees", "Security guarantees", "for Ukraine, after a ceasefire", meta())
    for n, claim_id in enumerate(CLAIM_IDS):
        fields = claim_body(speaker="dmitry-peskov", about="kirill-dmitriev", stance=("negative", "mixed")[n % 2],
                            text=f"Aussage {n}", position=None, co_speakers=[], facts={"n": n}, id=claim_id,
                            topic=KNOWN["topic_id"][n % 2])
        app.record_claim(fields, meta())
    app.corroborate_claim(CLAIM_IDS[0], "bbc", ORF, "reported too", meta())
    _, token = services.keys.create("fuzzer", "admin")
    services.run_projections()  # so that lists, timelines and positions show the seeded data
    caught_up(services)
    # A read naming a position past the log's head waits for its projections up to MAX_WAIT_SECONDS,
    # then answers 504: a few milliseconds are enough to see the 504.
    monkeypatch.setattr(consistency, "MAX_WAIT_SECONDS", 0.02)
    return create_app(services=services), token


def realistic(values: Any, pick: int) -> None:
    """Name seeded parties, topics and claims where a case names some: write paths past "unknown party"."""
    if isinstance(values, list):
        for item in values:
            realistic(item, pick)
        return
    if not isinstance(values, dict):
        return
    for key, value in values.items():
        if key in KNOWN and isinstance(value, str):
            values[key] = KNOWN[key][pick % len(KNOWN[key])]
        elif key == "co_speakers" and isinstance(value, list):
            values[key] = [PARTY_IDS[(pick + n + 1) % len(PARTY_IDS)] for n in range(min(len(value), 2))]
        elif isinstance(value, (dict, list)):
            realistic(value, pick)


def cases(label: str) -> st.SearchStrategy[Any]:
    """Valid and invalid requests for an operation (an operation with no inputs has only valid ones)."""
    operation = OPERATIONS[label]
    strategies = [operation.as_strategy(GenerationMode.POSITIVE)]
    if operation.path_parameters or operation.query or operation.headers or operation.body:
        strategies.append(operation.as_strategy(GenerationMode.NEGATIVE))
    return st.one_of(strategies)


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_every_operation_answers_no_500_and_conforms_to_its_schema(label: str, fuzz_app: tuple[Any, str]) -> None:
    asgi, token = fuzz_app

    @hypothesis.settings(max_examples=EXAMPLES, deadline=None, derandomize=DERANDOMIZE, database=None,
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(case=cases(label), real=st.booleans(), pick=st.integers(0, 5))
    def fuzz(case: Any, real: bool, pick: int) -> None:
        if real:
            realistic(case.path_parameters, pick)
            realistic(case.query, pick)
            realistic(case.body, pick)
            if any(header.name == "If-Match" for header in case.operation.headers):
                case.headers = {**(case.headers or {}), "If-Match": f'"{1 + pick % 2}"'}
        if label == "GET /v1/events" and case.query:
            case.query.pop("follow", None)  # a followed feed never ends; tests/e2e/test_feed.py follows one
        case.call_and_validate(app=asgi, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

    fuzz()


def test_every_path_is_fuzzed() -> None:
    """The schema the fuzzer reads holds every route (none left out of it by accident)."""
    assert {"POST /v1/claims", "POST /v1/claims/batch", "GET /v1/claims/{claim_id}", "PUT /v1/topics/{topic_id}",
            "PATCH /v1/parties/{party_id}", "POST /v1/projections/{name}/rebuild", "GET /v1/audit/verify",
            "GET /readyz"} <= OPERATIONS.keys()


# -- what the fuzzer found, pinned down ---------------------------------------------------------------


def test_a_nul_character_is_refused_in_any_text_and_stops_no_projection(api: Any, live: Services) -> None:
    """A NUL was recorded (201), then no view could hold it: the claims, parties and positions
    projections stopped on that event for good. Now it is refused at the edge."""
    for path, body, field in [
        ("/v1/claims", claim_body(text="a\u0000b"), "text"),
        ("/v1/claims", claim_body(facts={"n\u0000": 1}), "facts"),
        ("/v1/claims", claim_body(source={"url": "https://example.org/\u0000"}), "source.url"),
        ("/v1/parties", {"id": "x-y", "name": "X\u0000Y", "kind": "person"}, "name"),
        ("/v1/parties", {"id": "x-y", "name": "X Y", "kind": "person", "aliases": ["\u0000"]}, "aliases"),
        ("/v1/claims/batch", [claim_body(), claim_body(position="\u0000")], "position"),  # item 1
    ]:
        response = api.post(path, json=body)
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert any(err["field"].endswith(field) and "NUL" in err["reason"] for err in problem["errors"]), problem
    assert api.post("/v1/claims", json=claim_body()).status_code == 201
    caught_up(live)
    assert all(item["state"] == "live" for item in api.get("/v1/projections").json()["items"])


def test_a_nul_character_in_the_query_string_is_refused(api: Any) -> None:
    """GET /v1/positions?topic=%00 reached PostgreSQL, which refused it: 500."""
    for url in ["/v1/positions?topic=a%00", "/v1/claims?q=%00", "/v1/positions/history?party=russia&topic=%00",
                "/v1/reports/positions?topic=%00", "/v1/projections?x%00=1"]:
        response = api.get(url)
        assert response.status_code == 422, (url, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert "NUL" in response.json()["errors"][0]["reason"]


def test_a_party_update_cannot_null_its_name_or_kind(api: Any) -> None:
    """PATCH {"name": null} was a 500 (TypeError normalising None); {"kind": null} recorded a party
    without a kind."""
    for body in [{"name": None}, {"kind": None}]:
        response = api.patch("/v1/parties/russia", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == next(iter(body))
    response = api.patch("/v1/parties/kremlin", json={"affiliation": None})  # that one may be null: no affiliation
    assert response.status_code == 200 and response.json()["affiliation"] is None


def test_every_problem_an_operation_may_answer_is_documented_as_problem_json(client: Any) -> None:
    openapi = client.get("/openapi.json").json()
    correction = openapi["paths"]["/v1/claims/{claim_id}/corrections"]["post"]["responses"]
    assert {"400", "401", "403", "404", "409", "412", "413", "422", "428", "503"} <= correction.keys()
    problem_json = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    assert correction["422"]["content"] == problem_json
    assert "Retry-After" in correction["503"]["headers"]
    assert "504" in openapi["paths"]["/v1/claims"]["get"]["responses"]
    assert "HTTPValidationError" not in openapi["components"]["schemas"]
    # A body that is not UTF-8 is a 400 problem, as documented.
    response = client.post("/v1/parties", content=b'{"id": "\xff"}', headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.headers["content-type"] == "application/problem+json"
