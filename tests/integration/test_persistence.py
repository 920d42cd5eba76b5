"""Acknowledged writes survive the application, and the example data loads."""

from __future__ import annotations

from pathlib import Path

from adapters.settings import Settings
from api.bootstrap import bootstrap
from api.loader import Loader, parse, read_records
from tests.conftest import meta
from tests.integration.conftest import claim_body

EXAMPLE = Path(__file__).parents[2] / "examples" / "miami-talks.ndjson"


def test_recorded_claim_survives_a_restart(settings: Settings) -> None:
    first = bootstrap(settings)
    first.app.register_party("dmitry-peskov", "Dmitry Peskov", "person", None, ["Peskow"], meta())
    body = claim_body(about=None)
    body["source"]["published_at"] = "2025-12-21T22:40:00+01:00"
    claim = first.app.record_claim(body, meta()).value
    first.close()

    second = bootstrap(settings)
    try:
        again = second.app.get_claim(claim.id)
        assert (again.speaker, again.text, again.version) == ("dmitry-peskov", claim.text, 1)
        assert second.app.resolve_party("Peskow").slug == "dmitry-peskov"
    finally:
        second.close()


def load(services, path: Path = EXAMPLE) -> Loader:
    loader = Loader(services.app, meta)
    for place, record in read_records(path):
        loader.add(parse(place, record))
    loader.flush()
    return loader


def test_example_data_loads_and_a_second_load_records_nothing(services) -> None:
    first = load(services).report
    assert first.failures == [] and first.recorded >= 14 + 4
    second = load(services).report
    assert (second.recorded, second.unchanged, second.failures) == (0, first.recorded, [])
    app = services.app
    joint = app.get_claim("32557f03-626c-4d38-bc33-cf02adef0f89")
    assert (joint.speaker, joint.co_speakers) == ("rustem-umerov", ["steve-witkoff"])
    assert joint.corroborations and joint.corroborations[0]["source"]["url"].endswith("2025-12-23-miami-draft-documents")
    assert app.resolve_party("Dmitrijew").slug == app.resolve_party("Dmitriew").slug == "kirill-dmitriev"


def test_a_bad_record_is_reported_with_its_line_and_the_rest_still_load(services, tmp_path: Path) -> None:
    path = tmp_path / "bad.ndjson"
    path.write_text(
        '{"type":"party","id":"russia","name":"Russia","kind":"state"}\n'
        '{"type":"party","id":"kremlin","name":"Kremlin","kind":"government","affiliation":"nowhere"}\n'
        '{"type":"topic","id":"miami-talks","title":"Miami talks"}\n'
    )
    report = load(services, path).report
    assert report.recorded == 2
    assert report.failures == [f"{path}:2: party affiliation: affiliation 'nowhere' is no registered party"]
