"""GET /v1/events, not followed: the log as CloudEvents in each format, with its filters and resumption."""

from __future__ import annotations

from typing import Any

import orjson

from tests.integration.conftest import claim_body


def ndjson(answer: Any) -> list[dict[str, Any]]:
    assert answer.status_code == 200, answer.text
    return [orjson.loads(line) for line in answer.text.splitlines() if line.strip()]


def sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    frames = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":")
                      and ": " in line)
        if "data" in fields:
            frames.append((fields["id"], orjson.loads(fields["data"])))
    return frames


def test_the_whole_log_as_ndjson_cloud_events_in_position_order(api: Any) -> None:
    claim = api.post("/v1/claims", json=claim_body(), headers={"X-Request-ID": "feed-1"}).json()
    events = ndjson(api.get("/v1/events"))
    audit = api.get("/v1/audit/events", params={"limit": 1000}).json()
    audit_items = audit["items"] if isinstance(audit, dict) else audit
    assert [int(e["id"]) for e in events] == [row["position"] for row in audit_items]
    asserted = next(e for e in events if e["type"] == "ClaimAsserted")
    assert {k: asserted[k] for k in ("specversion", "subject", "streamkind", "streamversion", "correlationid")} == {
        "specversion": "1.0", "subject": claim["id"], "streamkind": "claim", "streamversion": 1,
        "correlationid": "feed-1"}
    assert asserted["source"] == "http://testserver/v1/events"
    assert asserted["time"].startswith(claim["recorded_at"][:19])
    assert asserted["data"]["speaker"] == "dmitry-peskov" and asserted["data"]["text"] == claim["text"]
    assert asserted["recordedby"] == "local"


def test_after_types_stream_kinds_and_limit_narrow_the_feed(api: Any) -> None:
    claim = api.post("/v1/claims", json=claim_body()).json()
    api.post(f"/v1/claims/{claim['id']}/retraction", json={"reason": "withdrawn"})
    everything = ndjson(api.get("/v1/events"))
    middle = int(everything[len(everything) // 2]["id"])
    assert [e["id"] for e in ndjson(api.get("/v1/events", params={"after": middle}))] == [
        e["id"] for e in everything if int(e["id"]) > middle]
    assert {e["type"] for e in ndjson(api.get("/v1/events", params={"stream": "party"}))} == {"PartyRegistered"}
    both = ndjson(api.get("/v1/events", params=[("type", "ClaimRetracted"), ("type", "TopicDefined")]))
    assert [e["type"] for e in both] == ["TopicDefined", "ClaimRetracted"]
    assert ndjson(api.get("/v1/events", params={"stream": "claim", "type": "PartyRegistered"})) == []
    assert len(ndjson(api.get("/v1/events", params={"limit": 3}))) == 3
    bad = api.get("/v1/events", params={"type": "ClaimInvented"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "type"
    assert api.get("/v1/events", params={"stream": "nation"}).json()["errors"][0]["field"] == "stream"


def test_sse_frames_carry_the_position_as_id_and_resume_after_last_event_id(api: Any) -> None:
    api.post("/v1/claims", json=claim_body())
    answer = api.get("/v1/events", headers={"Accept": "text/event-stream"})
    assert answer.headers["content-type"].startswith("text/event-stream")
    frames = sse(answer.text)
    assert frames and all(frame_id == event["id"] for frame_id, event in frames)
    resumed = sse(api.get("/v1/events", headers={"Accept": "text/event-stream", "Last-Event-ID": frames[2][0]}).text)
    assert [i for i, _ in resumed] == [i for i, _ in frames[3:]]
    bad = api.get("/v1/events", headers={"Accept": "text/event-stream", "Last-Event-ID": "yesterday"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "Last-Event-ID"


def test_a_cloudevents_batch_is_one_json_array_and_cannot_be_followed(api: Any) -> None:
    batch = api.get("/v1/events", headers={"Accept": "application/cloudevents-batch+json"})
    assert batch.headers["content-type"].startswith("application/cloudevents-batch+json")
    assert [e["id"] for e in batch.json()] == [e["id"] for e in ndjson(api.get("/v1/events"))]
    assert api.get("/v1/events", params={"after": 10**9},
                   headers={"Accept": "application/cloudevents-batch+json"}).json() == []
    refused = api.get("/v1/events", params={"follow": "true"}, headers={"Accept": "application/cloudevents-batch+json"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "follow"
