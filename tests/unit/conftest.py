from __future__ import annotations

import pytest

from adapters.group_commit import ClaimGroupCommit
from domain.application import ClaimsApplication
from tests.conftest import meta


@pytest.fixture
def app() -> ClaimsApplication:
    """The application on the in-memory store (no database), with group commit as the API has it."""
    return ClaimsApplication(env={"PERSISTENCE_MODULE": "adapters.memory"}, pipeline=ClaimGroupCommit)


SOURCE = {"url": "https://example.org/seeds/2025-12-21-miami-talks-productive", "outlet": "ORF"}


def claim_fields(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "speaker": "dmitry-peskov",
        "topic": "miami-talks",
        "kind": "statement",
        "text": "Dmitrijews Aufgabe in Miami sei es lediglich, „Informationen zu erhalten“.",
        "language": "de",
        "verbatim": False,
        "stance": "negative",
        "position": None,
        "stated_at": "2025-12-21",
        "source": SOURCE,
        "about": None,
        "co_speakers": [],
        "facts": {},
    }
    fields.update(overrides)
    return fields


@pytest.fixture
def parties(app: ClaimsApplication) -> ClaimsApplication:
    """Russia, the Kremlin, Peskov and Dmitriev, Ukraine, Umerov, the US and Witkoff."""
    m = meta()
    app.register_party("russia", "Russia", "state", None, ["Russland", "Россия"], m)
    app.register_party("kremlin", "Kremlin", "government", "russia", ["Kreml"], m)
    app.register_party("dmitry-peskov", "Dmitry Peskov", "person", "kremlin", ["Peskow", "Песков"], m)
    app.register_party("kirill-dmitriev", "Kirill Dmitriev", "person", "russia", ["Dmitrijew", "Dmitriew"], m)
    app.register_party("ukraine", "Ukraine", "state", None, [], m)
    app.register_party("rustem-umerov", "Rustem Umerov", "person", "ukraine", ["Umerow"], m)
    app.register_party("united-states", "United States", "state", None, ["USA"], m)
    app.register_party("steve-witkoff", "Steve Witkoff", "person", "united-states", [], m)
    return app
