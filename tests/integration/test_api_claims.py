"""Claims over HTTP, on a real PostgreSQL."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from tests.integration.conftest import ORF, claim_body

PROBLEM = "application/problem+json"


def test_recorded_claim_answers_201_with_location_etag_and_log_position(api: Any) -> None:
    response = api.post("/v1/claims", json=claim_body())
    assert response.status_code == 201
    claim = response.json()
    assert response.headers["Location"] == f"/v1/claims/{claim['id']}"
    assert response.headers["ETag"] == '"1"'
    assert int(response.headers["X-Event-Position"]) > 0
    assert (claim["speaker"], claim["about"], claim["status"], claim["version"]) == (
        "dmitry-peskov", "kirill-dmitriev", "active", 1,
    )
    assert claim["position"] == claim["text"]  # position defaults to the text
    fetched = api.get(response.headers["Location"])
    assert fetched.json() == claim and fetched.headers["ETag"] == '"1"'


def test_bad_input_gets_problem_json_naming_each_field(api: Any) -> None:
    body = claim_body(stance="grim", stated_at="2025-12-21T10:00:00", source={"url": "ftp://x"}, mood="x")
    response = api.post("/v1/claims", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    fields = {e["field"]: e["reason"] for e in response.json()["errors"]}
    assert set(fields) == {"stance", "stated_at", "source.url", "mood"}
    assert "UTC offset" in fields["stated_at"]
    assert api.post("/v1/claims", content=b"{not json", headers={"content-type": "application/json"}).status_code == 422


def test_unknown_speaker_gets_422_naming_it_and_its_candidates(api: Any) -> None:
    response = api.post("/v1/claims", json=claim_body(speaker="Lawrow"))
    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"] == [{"field": "speaker", "reason": "no party is called 'Lawrow'"}]
    assert problem["name"] == "Lawrow" and problem["candidates"] == []


def test_unknown_claim_is_404_problem(api: Any) -> None:
    response = api.get(f"/v1/claims/{uuid4()}")
    assert response.status_code == 404 and response.headers["content-type"] == PROBLEM
    assert api.get("/v1/claims/not-a-uuid").status_code == 422


def test_correction_needs_if_match_and_refuses_a_stale_one(api: Any) -> None:
    claim = api.post("/v1/claims", json=claim_body()).json()
    url = f"/v1/claims/{claim['id']}/corrections"
    body = {"changes": {"stance": "mixed"}, "reason": "re-read the interview"}
    assert api.post(url, json=body).status_code == 428
    corrected = api.post(url, json=body, headers={"If-Match": '"1"'})
    assert corrected.status_code == 200 and corrected.headers["ETag"] == '"2"'
    assert corrected.json()["stance"] == "mixed"
    stale = api.post(url, json={"changes": {"stance": "neutral"}, "reason": "x"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412 and stale.json()["current_version"] == 2
    bad = api.post(url, json={"changes": {"speaker": None}, "reason": "x"}, headers={"If-Match": '"2"'})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "changes.speaker"


def test_claim_reads_at_a_version_and_as_of_a_time(api: Any) -> None:
    claim = api.post("/v1/claims", json=claim_body()).json()
    api.post(f"/v1/claims/{claim['id']}/corrections", json={"changes": {"stance": "mixed"}, "reason": "r"},
             headers={"If-Match": '"1"'})
    v1 = api.get(f"/v1/claims/{claim['id']}", params={"version": 1})
    assert v1.json()["stance"] == "negative" and v1.headers["ETag"] == '"1"'
    as_of = api.get(f"/v1/claims/{claim['id']}", params={"as_of": claim["recorded_at"]})
    assert as_of.json()["stance"] == "negative"
    assert api.get(f"/v1/claims/{claim['id']}").json()["stance"] == "mixed"
    assert api.get(f"/v1/claims/{claim['id']}", params={"as_of": "2020-01-01T00:00:00Z"}).status_code == 404


def test_history_shows_every_event_with_its_request_id(api: Any) -> None:
    response = api.post("/v1/claims", json=claim_body(), headers={"X-Request-ID": "desk-42"})
    assert response.headers["X-Request-ID"] == "desk-42"
    claim_id = response.json()["id"]
    api.post(f"/v1/claims/{claim_id}/corroborations", json={"by": "bbc", "source": ORF, "note": "verified"})
    api.post(f"/v1/claims/{claim_id}/retraction", json={"reason": "misattributed"})
    history = api.get(f"/v1/claims/{claim_id}/history").json()
    assert [(e["version"], e["type"]) for e in history] == [
        (1, "ClaimAsserted"), (2, "ClaimCorroborated"), (3, "ClaimRetracted"),
    ]
    assert history[0]["correlation_id"] == "desk-42" and history[0]["recorded_by"] == "local"
    assert history[0]["data"]["speaker"] == "dmitry-peskov"
    assert history[1]["data"] == {"by": "bbc", "source": ORF, "note": "verified"}


def test_corroboration_dispute_retraction_and_supersession(api: Any) -> None:
    claim = api.post("/v1/claims", json=claim_body()).json()
    newer = api.post("/v1/claims", json=claim_body(text="Neue Aussage")).json()
    base = f"/v1/claims/{claim['id']}"
    corroborated = api.post(f"{base}/corroborations", json={"by": "BBC", "source": ORF})
    assert corroborated.status_code == 201 and corroborated.json()["corroborations"][0]["by"] == "bbc"
    disputed = api.post(f"{base}/disputes", json={"by": "ukraine", "note": "no", "counter_claim": newer["id"]})
    assert disputed.status_code == 201 and disputed.json()["disputes"][0]["counter_claim"] == newer["id"]
    assert api.post(f"{base}/supersession", json={"by_claim": str(uuid4())}).status_code == 422
    superseded = api.post(f"{base}/supersession", json={"by_claim": newer["id"], "reason": "newer quote"})
    assert superseded.status_code == 200 and superseded.json()["superseded_by"] == newer["id"]
    assert api.post(f"{base}/supersession", json={"by_claim": newer["id"]}).status_code == 409
    assert api.post(f"{base}/retraction", json={"reason": "wrong"}).status_code == 200
    assert api.post(f"{base}/retraction", json={"reason": "wrong"}).status_code == 409
    assert api.post(f"{base}/corroborations", json={"by": "bbc"}).status_code == 422


def test_batch_records_all_in_order_or_nothing(api: Any, services: Any) -> None:
    head = services.app.recorder.max_notification_id()
    items = [claim_body(text=f"Aussage {i}") for i in range(3)]
    bad = api.post("/v1/claims/batch", json=[items[0], claim_body(speaker="Nobody"), {**items[2], "stance": "x"}])
    assert bad.status_code == 422
    assert [(e["index"], e["field"]) for e in bad.json()["errors"]] == [(2, "stance")]
    bad = api.post("/v1/claims/batch", json=[items[0], claim_body(speaker="Nobody"), items[2]])
    assert [(e["index"], e["field"]) for e in bad.json()["errors"]] == [(1, "speaker")]
    assert services.app.recorder.max_notification_id() == head
    ok = api.post("/v1/claims/batch", json=items)
    assert ok.status_code == 201
    ids = ok.json()["ids"]
    assert [api.get(f"/v1/claims/{i}").json()["text"] for i in ids] == ["Aussage 0", "Aussage 1", "Aussage 2"]


def test_batch_resolves_every_name_as_a_single_claim_does(api: Any) -> None:
    """A batch looks its parties and topics up all at once; it must answer what one-by-one lookups would."""
    assert api.post("/v1/parties", json={"id": "k-dmitriev", "name": "K. Dmitriev", "kind": "person",
                                         "aliases": ["Kirill D."]}).status_code == 201
    assert api.post("/v1/parties/k-dmitriev/merge", json={"into": "kirill-dmitriev"}).status_code == 200
    assert api.put("/v1/topics/sanctions", json={"title": "Sanktionen"}).status_code in (200, 201)
    items = [
        claim_body(speaker="dmitry-peskov", about=None, topic="sanctions"),  # an id; a defined topic
        claim_body(speaker="PESKOW", about="Dmitriew", co_speakers=["Kreml"]),  # aliases, any case
        claim_body(speaker="k-dmitriev", about="Kirill D.", topic="new-topic"),  # merged: its survivor; a new topic
        claim_body(speaker="Kremlin", about="ukraine", topic="new-topic"),  # a name; the topic once
    ]
    batch = api.post("/v1/claims/batch", json=items)
    assert batch.status_code == 201, batch.text
    singles = [api.post("/v1/claims", json=item).json() for item in items]
    recorded = [api.get(f"/v1/claims/{i}").json() for i in batch.json()["ids"]]
    fields = ("speaker", "co_speakers", "about", "topic")
    assert [[c[f] for f in fields] for c in recorded] == [[c[f] for f in fields] for c in singles] == [
        ["dmitry-peskov", [], None, "sanctions"],
        ["dmitry-peskov", ["kremlin"], "kirill-dmitriev", "miami-talks"],
        ["kirill-dmitriev", [], "kirill-dmitriev", "new-topic"],
        ["kremlin", [], "ukraine", "new-topic"],
    ]
    assert api.get("/v1/topics/sanctions").json()["title"] == "Sanktionen"  # not redefined by the batch


def test_batch_accepts_ndjson(api: Any) -> None:
    import orjson

    body = b"\n".join(orjson.dumps(claim_body(text=f"Zeile {i}")) for i in range(2))
    response = api.post("/v1/claims/batch", content=body, headers={"content-type": "application/x-ndjson"})
    assert response.status_code == 201 and len(response.json()["ids"]) == 2


def test_client_chosen_id_is_kept_and_repeat_answers_the_same(api: Any) -> None:
    claim_id = str(uuid4())
    first = api.post("/v1/claims", json=claim_body(id=claim_id))
    again = api.post("/v1/claims", json=claim_body(id=claim_id))
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and first.json()["id"] == claim_id
    assert api.post("/v1/claims", json=claim_body(id=claim_id, text="other")).status_code == 409


def test_openapi_documents_the_seed_examples(api: Any) -> None:
    schema = api.get("/openapi.json").json()
    examples = schema["components"]["schemas"]["ClaimIn"]["examples"]
    assert any(e["speaker"] == "dmitry-peskov" for e in examples)
    assert api.get("/docs").status_code == 200


def test_a_batch_of_ten_thousand_claims_is_recorded_in_one_transaction(api: Any, services: Any) -> None:
    head = services.app.recorder.max_notification_id()
    items = [claim_body(text=f"Aussage Nummer {i}") for i in range(10_000)]
    response = api.post("/v1/claims/batch", json=items)
    assert response.status_code == 201, response.text[:500]
    ids = response.json()["ids"]
    assert len(set(ids)) == 10_000
    assert services.app.recorder.max_notification_id() - head == 10_001  # the claims and the topic they define
    from psycopg.sql import SQL, Identifier

    with services.app.recorder.datastore.transaction(commit=False) as curs:  # the rows' inserting transactions
        row = curs.execute(
            SQL("SELECT count(*) AS events, count(DISTINCT xmin::text) AS transactions, "
                "count(DISTINCT originator_id) FILTER (WHERE originator_id = ANY(%s::uuid[])) AS claims "
                "FROM {} WHERE notification_id > %s").format(Identifier(services.settings.db_schema, "claims_events")),
            (ids, head or 0),
        ).fetchone()
    assert (row["events"], row["transactions"], row["claims"]) == (10_001, 1, 10_000)
    assert api.get(f"/v1/claims/{ids[-1]}").json()["text"] == "Aussage Nummer 9999"
    too_many = api.post("/v1/claims/batch", json=items + [claim_body()])
    assert too_many.status_code == 413


def test_a_batch_refusal_counts_bad_items_not_bad_fields(api: Any) -> None:
    bad = api.post("/v1/claims/batch", json=[claim_body(), {"speaker": "nobody-xyz"}])
    assert bad.status_code == 422
    assert {e["index"] for e in bad.json()["errors"]} == {1} and len(bad.json()["errors"]) > 1
    assert bad.json()["detail"].startswith("1 item(s) of the batch are invalid")
