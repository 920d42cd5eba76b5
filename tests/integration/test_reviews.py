"""Verdicts over HTTP: POST a review, the claim shows it, GET /v1/reviews filters it, ClaimReview JSON-LD."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import RDF

from tests.integration.conftest import caught_up, claim_body, view_rows

SDO = Namespace("https://schema.org/")
# rdflib resolves the remote "https://schema.org" context only over the network: the tests give it
# the part of that context these documents use, so they parse offline and every term is checked.
SCHEMA_CONTEXT = {"@vocab": "https://schema.org/", "url": {"@id": "https://schema.org/url", "@type": "@id"}}
LD = {"Accept": "application/ld+json"}
CHECK = "https://example.org/checks/dmitriev-miami"


def ld_graph(doc: dict[str, Any]) -> Graph:
    assert doc["@context"] == "https://schema.org"
    return Graph().parse(data=json.dumps({**doc, "@context": SCHEMA_CONTEXT}), format="json-ld")


@pytest.fixture
def desk(api: Any, live: Any) -> Any:
    for party in ({"id": "faktencheck", "name": "Faktencheck-Desk", "kind": "organization", "aliases": ["FC"]},
                  {"id": "ukraine-delegation", "name": "Ukrainian delegation", "kind": "organization",
                   "affiliation": "ukraine"}):
        assert api.post("/v1/parties", json=party).status_code == 201
    return api


def review(api: Any, claim_id: str, **body: Any) -> Any:
    return api.post(f"/v1/claims/{claim_id}/reviews", json={"by": "faktencheck", "rating": "false", **body})


def synced(api: Any, response: Any) -> dict[str, str]:
    return {"X-Min-Position": response.headers["X-Event-Position"]}


def test_a_review_answers_201_and_the_claim_shows_each_reviewers_latest(desk: Any) -> None:
    claim = desk.post("/v1/claims", json=claim_body()).json()
    first = review(desk, claim["id"], rating="unverifiable")
    assert first.status_code == 201, first.text
    assert first.headers["ETag"] == '"2"'
    review(desk, claim["id"], by="bbc", rating="mixed", note="partly", sources=[CHECK])
    later = review(desk, claim["id"], by="FC", rating="mostly-false", note="the talks say otherwise")
    shown = desk.get(f"/v1/claims/{claim['id']}").json()
    assert [(r["by"], r["rating"]) for r in shown["reviews"]] == [("bbc", "mixed"), ("faktencheck", "mostly-false")]
    history = desk.get(f"/v1/claims/{claim['id']}/history").json()
    assert [e["data"]["rating"] for e in history if e["type"] == "ClaimReviewed"] == ["unverifiable", "mixed", "mostly-false"]
    listed = desk.get("/v1/claims", headers=synced(desk, later)).json()["items"]
    assert [r["rating"] for r in listed[0]["reviews"]] == ["mixed", "mostly-false"]


def test_a_retracted_claim_can_be_reviewed_and_bad_reviews_are_refused_naming_the_field(desk: Any) -> None:
    claim = desk.post("/v1/claims", json=claim_body()).json()
    desk.post(f"/v1/claims/{claim['id']}/retraction", json={"reason": "withdrawn"})
    assert review(desk, claim["id"]).status_code == 201
    bad = review(desk, claim["id"], rating="pants-on-fire")
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert bad.json()["errors"][0]["field"].endswith("rating")
    assert review(desk, claim["id"], sources=["not a url"]).json()["errors"][0]["field"].startswith("sources")
    unknown = review(desk, claim["id"], by="Nobody")
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "by"
    assert review(desk, "8a6a2f4e-9c1e-4c86-9d7e-6f5d2b7e0a11").status_code == 404


def test_reviews_list_filters_by_reviewer_rating_topic_party_and_since_in_cursor_pages(desk: Any) -> None:
    peskov = desk.post("/v1/claims", json=claim_body()).json()
    delegation = desk.post("/v1/claims", json=claim_body(speaker="ukraine-delegation", about=None,
                                                         topic="security-guarantees", stance="positive")).json()
    review(desk, peskov["id"], rating="misleading")
    review(desk, peskov["id"], by="bbc", rating="mixed")
    last = review(desk, delegation["id"], rating="mostly-true")
    sync = synced(desk, last)

    def ratings(**params: Any) -> list[str]:
        answer = desk.get("/v1/reviews", params=params, headers=sync)
        assert answer.status_code == 200, answer.text
        return [item["rating"] for item in answer.json()["items"]]

    assert ratings() == ["mostly-true", "mixed", "misleading"]
    assert ratings(reviewer="FC") == ["mostly-true", "misleading"]
    assert ratings(rating="mixed") == ["mixed"]
    assert ratings(topic="security-guarantees") == ["mostly-true"]
    assert ratings(party="russia") == ["mixed", "misleading"]  # Peskov speaks for the Kremlin, for Russia
    assert ratings(party="ukraine") == ["mostly-true"]
    assert ratings(since="2999-01-01T00:00:00Z") == []
    page = desk.get("/v1/reviews", params={"limit": 2}, headers=sync).json()
    rest = desk.get("/v1/reviews", params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert [i["rating"] for i in page["items"] + rest["items"]] == ["mostly-true", "mixed", "misleading"]
    assert rest["next_cursor"] is None
    assert desk.get("/v1/reviews", params={"cursor": "nonsense"}).json()["errors"][0]["field"] == "cursor"
    assert desk.get("/v1/reviews", params={"since": "2025-12-21T00:00:00"}).json()["errors"][0]["field"] == "since"


def test_a_superseded_verdict_drops_out_of_the_list_and_a_rebuild_gives_the_same(desk: Any, live: Any) -> None:
    claim = desk.post("/v1/claims", json=claim_body()).json()
    review(desk, claim["id"], rating="unverifiable")
    last = review(desk, claim["id"], rating="false")
    assert [i["rating"] for i in desk.get("/v1/reviews", headers=synced(desk, last)).json()["items"]] == ["false"]
    caught_up(live)
    before = view_rows(live, "reviews")
    assert [r for r in before["review"] if ("current", "True") in r] and len(before["review"]) == 2
    assert desk.post("/v1/projections/reviews/rebuild").status_code == 202
    deadline = time.monotonic() + 30
    while any(r["state"] != "live" or r["rebuild_requested"] for r in desk.get("/v1/projections").json()["items"]):
        assert time.monotonic() < deadline, desk.get("/v1/projections").json()
        time.sleep(0.05)
    assert view_rows(live, "reviews") == before


def test_a_claim_as_json_ld_is_its_verdicts_as_schema_org_claim_reviews(desk: Any) -> None:
    joint = claim_body(speaker="Peskow", co_speakers=["Dmitrijew"], about=None)
    claim = desk.post("/v1/claims", json=joint).json()
    review(desk, claim["id"], rating="mostly-false", note="the talks say otherwise", sources=[CHECK])
    answer = desk.get(f"/v1/claims/{claim['id']}", headers=LD)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/ld+json")
    g = ld_graph(answer.json())
    (node,) = g.subjects(RDF.type, SDO.ClaimReview)
    assert g.value(node, SDO.url) == URIRef(f"http://testserver/claims/{claim['id']}")  # the claim's page
    assert str(g.value(node, SDO.claimReviewed)) == joint["text"]
    assert str(g.value(node, SDO.reviewBody)) == "the talks say otherwise"
    rating = g.value(node, SDO.reviewRating)
    assert (str(g.value(rating, SDO.alternateName)), g.value(rating, SDO.ratingValue).toPython(),
            g.value(rating, SDO.bestRating).toPython(), g.value(rating, SDO.worstRating).toPython()) == (
        "mostly-false", 2, 5, 1)
    author = g.value(node, SDO.author)
    assert (g.value(author, RDF.type), str(g.value(author, SDO.name))) == (SDO.Organization, "Faktencheck-Desk")
    item = g.value(node, SDO.itemReviewed)
    assert g.value(item, RDF.type) == SDO.Claim
    assert g.value(item, SDO.datePublished) == Literal("2025-12-21")
    speakers = {str(g.value(a, SDO.name)) for a in g.objects(item, SDO.author)}
    assert speakers == {"Dmitry Peskov", "Kirill Dmitriev"}
    appearance = g.value(item, SDO.appearance)
    assert str(g.value(appearance, SDO.url)) == joint["source"]["url"]
    assert str(g.value(g.value(appearance, SDO.publisher), SDO.name)) == "ORF"
    plain = desk.get(f"/v1/claims/{claim['id']}")
    assert plain.headers["content-type"] == "application/json"


def test_the_reviews_list_as_json_ld_holds_one_claim_review_per_verdict(desk: Any) -> None:
    claim = desk.post("/v1/claims", json=claim_body()).json()
    review(desk, claim["id"], rating="misleading")
    last = review(desk, claim["id"], by="bbc", rating="true")
    answer = desk.get("/v1/reviews", params={"limit": 1}, headers={**LD, **synced(desk, last)})
    assert answer.headers["content-type"].startswith("application/ld+json")
    assert 'rel="next"' in answer.headers["link"]
    g = ld_graph(answer.json())
    (node,) = g.subjects(RDF.type, SDO.ClaimReview)
    assert g.value(g.value(node, SDO.reviewRating), SDO.ratingValue).toPython() == 5
    nxt = desk.get("/v1/reviews", params={"limit": 1, "cursor": answer.json()["next_cursor"]}, headers=LD).json()
    assert [r["reviewRating"]["alternateName"] for r in nxt["@graph"]] == ["misleading"]
