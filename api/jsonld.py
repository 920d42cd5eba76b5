"""Linked-data forms of the record: verdicts as schema.org ClaimReview, a claim's versions as W3C PROV-O.

Both are plain JSON-LD dicts built from what the API shows (claim and review documents, party
documents, a claim's events), so the same functions serve the aggregate and the read models.
Parties and claims are named by their API URLs (``base`` is the service's own address).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

LD_JSON = "application/ld+json"
SCHEMA = "https://schema.org"
# A graded verdict's place on a 1 (false) to 5 (true) scale. "misleading" rates as mostly false;
# "unverifiable" is on no scale: -1, the value fact-check markup has long used for "hard to categorise".
RATING_VALUES = {"true": 5, "mostly-true": 4, "mixed": 3, "mostly-false": 2, "false": 1, "misleading": 2,
                 "unverifiable": -1}
PROV_CONTEXT = {
    "prov": "http://www.w3.org/ns/prov#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "schema": "https://schema.org/",
}

Parties = Callable[[str], dict[str, Any] | None]  # party id -> its document (name, kind, affiliation), or None


def wants_ld(accept: str | None) -> bool:
    """True if an Accept header asks for JSON-LD (before plain JSON, or alone)."""
    if not accept:
        return False
    kinds = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    return LD_JSON in kinds and ("application/json" not in kinds or kinds.index(LD_JSON) < kinds.index("application/json"))


def party_url(base: str, slug: str) -> str:
    return f"{base}/v1/parties/{slug}"


def key_iri(name: str) -> str:
    """The API key that recorded an event, by its name (keys have no URL: their names are all the log keeps)."""
    return f"urn:claims:key:{quote(name, safe='')}"


def claim_url(base: str, claim_id: Any) -> str:
    return f"{base}/v1/claims/{claim_id}"


def claim_page(base: str, claim_id: Any) -> str:
    """The claim's page on the desk (api/pages): what a reader of a ClaimReview follows."""
    return f"{base}/claims/{claim_id}"


def _schema_party(base: str, slug: str, parties: Parties) -> dict[str, Any]:
    doc = parties(slug) or {}
    return {
        "@type": "Person" if doc.get("kind") == "person" else "Organization",
        "@id": party_url(base, slug),
        "name": doc.get("name", slug),
        "identifier": slug,
    }


def _appearance(source: dict[str, Any]) -> dict[str, Any]:
    work: dict[str, Any] = {"@type": "CreativeWork", "url": source["url"]}
    if source.get("title"):
        work["headline"] = source["title"]
    if source.get("outlet"):
        work["publisher"] = {"@type": "Organization", "name": source["outlet"]}
    if source.get("published_at"):
        work["datePublished"] = source["published_at"]
    if source.get("language"):
        work["inLanguage"] = source["language"]
    return work


def claim_review(base: str, review: dict[str, Any], claim: dict[str, Any], parties: Parties) -> dict[str, Any]:
    """One verdict as a schema.org ClaimReview (without @context: see ``review_graph``)."""
    url = claim_url(base, claim["id"])
    speakers = [claim["speaker"], *claim.get("co_speakers", [])]
    rating = review["rating"]
    out: dict[str, Any] = {
        "@type": "ClaimReview",
        "@id": f"{url}#review-{review['by']}-{review['version']}",
        "url": claim_page(base, claim["id"]),
        "claimReviewed": claim["text"],
        "datePublished": str(review["recorded_at"])[:10],
        "author": _schema_party(base, review["by"], parties),
        "reviewRating": {
            "@type": "Rating",
            "alternateName": rating,
            "ratingValue": RATING_VALUES[rating],
            "bestRating": 5,
            "worstRating": 1,
        },
        "itemReviewed": {
            "@type": "Claim",
            "author": [_schema_party(base, slug, parties) for slug in speakers],
            "datePublished": claim["stated_at"],
            "appearance": _appearance(claim["source"]),
            "inLanguage": claim.get("language"),
        },
    }
    if review.get("note"):
        out["reviewBody"] = review["note"]
    if review.get("sources"):
        out["citation"] = list(review["sources"])
    return out


def review_graph(items: Iterable[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A JSON-LD document holding ClaimReviews (``extra``: keys such as next_cursor, beside the graph)."""
    return {"@context": SCHEMA, "@graph": list(items), **extra}


# -- provenance --------------------------------------------------------------------------


def _time(value: str) -> dict[str, str]:
    return {"@value": value, "@type": "xsd:dateTime"}


def _ref(iri: str) -> dict[str, str]:
    return {"@id": iri}


def _agents(base: str, slugs: Iterable[str], parties: Parties) -> list[dict[str, Any]]:
    """The speakers as PROV agents, with the chain of parties each acted on behalf of (Peskov -> Kremlin -> Russia)."""
    nodes: dict[str, dict[str, Any]] = {}
    todo = list(slugs)
    while todo:
        slug = todo.pop(0)
        if slug in nodes:
            continue
        doc = parties(slug) or {}
        node: dict[str, Any] = {
            "@id": party_url(base, slug),
            "@type": ["prov:Agent", "prov:Person" if doc.get("kind") == "person" else "prov:Organization"],
            "rdfs:label": doc.get("name", slug),
        }
        if doc.get("affiliation"):
            node["prov:actedOnBehalfOf"] = _ref(party_url(base, doc["affiliation"]))
            todo.append(doc["affiliation"])
        nodes[slug] = node
    return list(nodes.values())


def provenance(base: str, claim_id: Any, versions: list[tuple[Any, dict[str, Any]]], parties: Parties) -> dict[str, Any]:
    """A claim's versions as PROV-O: ``versions`` pairs each event with the claim's state after it.

    Each version is an entity, a specialisation of the claim, generated by the recording
    activity of its event (associated with the API key's name) at the recording time; each after
    the first a revision of the one before. The first is attributed to its speakers and quoted from
    its source (verbatim) or derived from it (a paraphrase). A retraction invalidates the claim
    and the version it withdrew.
    """
    url = claim_url(base, claim_id)
    graph: list[dict[str, Any]] = [{"@id": url, "@type": "prov:Entity", "rdfs:label": f"claim {claim_id}"}]
    speakers: list[str] = []
    keys: set[str] = set()
    sources: dict[str, dict[str, Any]] = {}
    previous: str | None = None
    for event, state in versions:
        version = event.originator_version
        kind = type(event).__name__
        at = event.meta["recorded_at"]
        key = event.meta.get("recorded_by", "unknown")
        keys.add(key)
        entity_id, activity_id = f"{url}?version={version}", f"{url}/history#{version}"
        activity = {
            "@id": activity_id,
            "@type": "prov:Activity",
            "rdfs:label": kind,
            "prov:startedAtTime": _time(at),
            "prov:endedAtTime": _time(at),
            "prov:wasAssociatedWith": _ref(key_iri(key)),
        }
        graph.append(activity)
        if kind == "ClaimRetracted" and previous is not None:
            graph.append({"@id": previous, "prov:wasInvalidatedBy": _ref(activity_id), "prov:invalidatedAtTime": _time(at)})
            graph.append({"@id": url, "prov:wasInvalidatedBy": _ref(activity_id), "prov:invalidatedAtTime": _time(at)})
        entity: dict[str, Any] = {
            "@id": entity_id,
            "@type": "prov:Entity",
            "rdfs:label": f"claim {claim_id}, version {version} ({kind})",
            "prov:specializationOf": _ref(url),
            "prov:wasGeneratedBy": _ref(activity_id),
            "prov:generatedAtTime": _time(at),
            "schema:text": state["text"],
        }
        if previous is None:
            names = [state["speaker"], *state.get("co_speakers", [])]
            speakers.extend(names)
            entity["prov:wasAttributedTo"] = [_ref(party_url(base, slug)) for slug in names]
            source = state["source"]
            sources[source["url"]] = source
            entity["prov:wasQuotedFrom" if state["verbatim"] else "prov:wasDerivedFrom"] = _ref(source["url"])
        else:
            entity["prov:wasRevisionOf"] = _ref(previous)
        graph.append(entity)
        previous = entity_id
    for source in sources.values():
        node: dict[str, Any] = {"@id": source["url"], "@type": "prov:Entity"}
        if source.get("title"):
            node["rdfs:label"] = source["title"]
        if source.get("published_at"):
            node["prov:generatedAtTime"] = _time(source["published_at"])
        graph.append(node)
    graph.extend(_agents(base, speakers, parties))
    graph.extend({"@id": key_iri(key), "@type": ["prov:Agent", "prov:SoftwareAgent"], "rdfs:label": key}
                 for key in sorted(keys))
    return {"@context": PROV_CONTEXT, "@graph": graph}
