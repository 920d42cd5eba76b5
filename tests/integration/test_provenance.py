"""A claim's provenance as W3C PROV-O JSON-LD, parsed by rdflib and checked triple by triple."""

from __future__ import annotations

import json
from typing import Any

from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import PROV, RDF, XSD

from tests.integration.conftest import claim_body

BASE = "http://testserver"


def party(slug: str) -> URIRef:
    return URIRef(f"{BASE}/v1/parties/{slug}")


def provenance(api: Any, claim_id: str) -> Graph:
    answer = api.get(f"/v1/claims/{claim_id}/provenance")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/ld+json")
    return Graph().parse(data=json.dumps(answer.json()), format="json-ld")


def test_a_verbatim_claim_is_quoted_from_its_source_and_attributed_to_its_speakers(api: Any) -> None:
    body = claim_body(co_speakers=["Dmitrijew"], about=None)
    claim = api.post("/v1/claims", json=body, headers={"X-Request-ID": "req-1"}).json()
    g = provenance(api, claim["id"])
    first = URIRef(f"{BASE}/v1/claims/{claim['id']}?version=1")
    source = URIRef(body["source"]["url"])
    assert (first, RDF.type, PROV.Entity) in g
    assert (first, PROV.wasQuotedFrom, source) in g
    assert (first, PROV.wasDerivedFrom, source) not in g
    assert set(g.objects(first, PROV.wasAttributedTo)) == {party("dmitry-peskov"), party("kirill-dmitriev")}
    assert (first, PROV.specializationOf, URIRef(f"{BASE}/v1/claims/{claim['id']}")) in g
    at = g.value(first, PROV.generatedAtTime)
    assert at.datatype == XSD.dateTime and at.toPython().isoformat()[:19] == claim["recorded_at"][:19]
    activity = g.value(first, PROV.wasGeneratedBy)
    assert (activity, RDF.type, PROV.Activity) in g
    assert g.value(activity, PROV.wasAssociatedWith) == URIRef("urn:claims:key:local")  # auth off: "local"
    # Peskov speaks for the Kremlin, which speaks for Russia; Dmitriev for Russia.
    assert (party("dmitry-peskov"), PROV.actedOnBehalfOf, party("kremlin")) in g
    assert (party("kremlin"), PROV.actedOnBehalfOf, party("russia")) in g
    assert (party("kirill-dmitriev"), PROV.actedOnBehalfOf, party("russia")) in g
    assert (party("dmitry-peskov"), RDF.type, PROV.Person) in g
    assert (party("kremlin"), RDF.type, PROV.Organization) in g
    assert g.value(party("russia"), PROV.actedOnBehalfOf) is None


def test_a_paraphrase_is_derived_from_its_source(api: Any) -> None:
    body = claim_body(verbatim=False)
    claim = api.post("/v1/claims", json=body).json()
    g = provenance(api, claim["id"])
    first = URIRef(f"{BASE}/v1/claims/{claim['id']}?version=1")
    assert (first, PROV.wasDerivedFrom, URIRef(body["source"]["url"])) in g
    assert (first, PROV.wasQuotedFrom, None) not in g


def test_corrections_are_revisions_of_the_version_before_and_a_retraction_invalidates(api: Any) -> None:
    claim = api.post("/v1/claims", json=claim_body()).json()
    url = f"/v1/claims/{claim['id']}"
    api.post(f"{url}/corrections", json={"changes": {"stance": "mixed"}, "reason": "misread"}, headers={"If-Match": '"1"'})
    api.post(f"{url}/corrections", json={"changes": {"text": "Dmitrijew soll nur zuhören."}, "reason": "typo"},
             headers={"If-Match": '"2"'})
    api.post(f"{url}/retraction", json={"reason": "withdrawn by the outlet"})
    g = provenance(api, claim["id"])
    v = {n: URIRef(f"{BASE}{url}?version={n}") for n in range(1, 5)}
    assert (v[2], PROV.wasRevisionOf, v[1]) in g
    assert (v[3], PROV.wasRevisionOf, v[2]) in g
    assert g.value(v[3], Namespace("https://schema.org/").text) == Literal("Dmitrijew soll nur zuhören.")
    retraction = g.value(v[4], PROV.wasGeneratedBy)
    assert (v[3], PROV.wasInvalidatedBy, retraction) in g
    assert (URIRef(f"{BASE}{url}"), PROV.wasInvalidatedBy, retraction) in g
    assert g.value(v[3], PROV.invalidatedAtTime).datatype == XSD.dateTime
    assert (v[1], PROV.wasInvalidatedBy, None) not in g
    assert len(set(g.subjects(RDF.type, PROV.Activity))) == 4


def test_the_recording_activity_is_associated_with_the_api_keys_name(services: Any, client: Any) -> None:
    from tests.integration.conftest import PARTIES

    _, writer = services.keys.create("desk-berlin", "writer")
    auth = {"Authorization": f"Bearer {writer}"}
    for body in PARTIES:
        assert client.post("/v1/parties", json=body, headers=auth).status_code == 201
    claim = client.post("/v1/claims", json=claim_body(), headers=auth).json()
    answer = client.get(f"/v1/claims/{claim['id']}/provenance", headers=auth)
    g = Graph().parse(data=answer.text, format="json-ld")
    activity = g.value(URIRef(f"{BASE}/v1/claims/{claim['id']}?version=1"), PROV.wasGeneratedBy)
    key = URIRef("urn:claims:key:desk-berlin")
    assert g.value(activity, PROV.wasAssociatedWith) == key
    assert (key, RDF.type, PROV.SoftwareAgent) in g
    assert client.get(f"/v1/claims/{claim['id']}/provenance").status_code == 401


def test_the_provenance_of_an_unknown_claim_is_404(api: Any) -> None:
    assert api.get("/v1/claims/8a6a2f4e-9c1e-4c86-9d7e-6f5d2b7e0a11/provenance").status_code == 404
