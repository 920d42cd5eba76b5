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
def env(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The command line's environment, pointing at the test's database, schema and home."""
    assert settings.database_url is not None
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CLAIMS_DB_SCHEMA", settings.db_schema)
    monkeypatch.setenv("CLAIMS_HOME", str(settings.home))
    return settings


@pytest.fixture
def api(client: Any) -> Any:
    """A client on a database holding a few parties."""
    for party in PARTIES:
        assert client.post("/v1/parties", json=party).status_code == 201
    return client


def caught_up(services: Any, timeout: float = 10.0) -> None:
    """Wait until every projection has processed the whole log."""
    import time

    head = services.app.recorder.max_notification_id() or 0
    deadline = time.monotonic() + timeout
    while any(view.position() < head for view in services.views.values()):
        assert time.monotonic() < deadline, {name: v.position() for name, v in services.views.items()}
        time.sleep(0.02)


@pytest.fixture
def live(services: Any) -> Any:
    """Services whose projections run in this process."""
    services.run_projections()
    return services


def view_rows(services: Any, name: str) -> dict[str, list[Any]]:
    """Every row of every table of a view, sorted, for comparing two builds of it."""
    view = services.views[name]
    out = {}
    with view.datastore.transaction(commit=False) as curs:
        for logical in view.tables:
            rows = curs.execute(view.q(f"SELECT * FROM {{{logical}}}")).fetchall()
            out[logical] = sorted((tuple(sorted((k, str(v)) for k, v in r.items())) for r in rows))
    return out
