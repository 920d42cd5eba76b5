from __future__ import annotations

from typing import Any

import pytest

ORF = {
    "url": "https://example.org/seeds/2025-12-21-miami-talks-productive",
    "outlet": "ORF",
    "title": "Ukraine und USA sprechen von „produktiven“ Treffen in Miami",
    "published_at": "2025-12-21T22:40:00+01:00",
    "language": "de",
}


def claim_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "speaker": "Peskow",
        "about": "Dmitrijew",
        "topic": "miami-talks",
        "kind": "statement",
        "text": "Dmitrijews Aufgabe in Miami sei es lediglich, „Informationen zu erhalten“.",
        "language": "de",
        "verbatim": True,
        "stance": "negative",
        "stated_at": "2025-12-21",
        "source": ORF,
    }
    body.update(overrides)
    return body


PARTIES = [
    {"id": "russia", "name": "Russia", "kind": "state", "aliases": ["Russland"]},
    {"id": "kremlin", "name": "Kremlin", "kind": "government", "affiliation": "russia", "aliases": ["Kreml"]},
    {"id": "dmitry-peskov", "name": "Dmitry Peskov", "kind": "person", "affiliation": "kremlin", "aliases": ["Peskow"]},
    {"id": "kirill-dmitriev", "name": "Kirill Dmitriev", "kind": "person", "affiliation": "russia",
     "aliases": ["Dmitrijew", "Dmitriew"]},
    {"id": "ukraine", "name": "Ukraine", "kind": "state"},
    {"id": "bbc", "name": "BBC", "kind": "media"},
]


@pytest.fixture
def api(client: Any) -> Any:
    """A client on a database holding a few parties."""
    for party in PARTIES:
        assert client.post("/v1/parties", json=party).status_code == 201
    return client
