"""`claims export` / `claims import`: a round trip proven by a checkpoint signed before it; damage refused whole."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from psycopg import sql

from adapters.settings import Settings
from api import cli
from tests.integration.conftest import claim_body

EVENTS = "claims_events"


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"home": tmp_path / "home"})


@pytest.fixture
def other_schema(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An empty store beside the test's (a schema of its own), dropped after."""
    schema = f"r_{uuid.uuid4().hex[:12]}"
    yield schema
    assert settings.database_url is not None
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def claims(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out + err


def rows(settings: Settings, schema: str, table: str) -> list[tuple[Any, ...]]:
    assert settings.database_url is not None
    with psycopg.connect(settings.database_url) as conn:
        order = "notification_id" if table == EVENTS else "position"
        return conn.execute(sql.SQL("SELECT * FROM {} ORDER BY {}").format(
            sql.Identifier(schema, table), sql.Identifier(order))).fetchall()


def a_log_with_a_gap(api: Any, settings: Settings) -> None:
    """Claims, a correction, a retraction, and a gap in the positions (as a rolled-back insert leaves)."""
    first = api.post("/v1/claims", json=claim_body()).json()
    api.post(f"/v1/claims/{first['id']}/corrections", json={"changes": {"stance": "mixed"}, "reason": "misread"},
             headers={"If-Match": '"1"'})
    assert settings.database_url is not None
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("SELECT setval(pg_get_serial_sequence({}, 'notification_id'), 40)").format(
            sql.Literal(f"{settings.db_schema}.{EVENTS}")))
    api.post(f"/v1/claims/{first['id']}/retraction", json={"reason": "withdrawn"})
    api.post("/v1/claims", json=claim_body(text="Zweite Aussage"))


def test_an_import_restores_the_log_byte_for_byte_and_a_checkpoint_signed_before_verifies_after(
    api: Any, env: Settings, other_schema: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a_log_with_a_gap(api, env)
    checkpoint = tmp_path / "checkpoint.json"
    checkpoint.write_bytes(api.get("/v1/audit/checkpoint").content)
    backup = tmp_path / "log.ndjson"
    code, out = claims(capsys, "export", str(backup))
    assert code == 0, out
    assert not (tmp_path / "log.ndjson.partial").exists()
    lines = backup.read_bytes().splitlines()
    assert orjson.loads(lines[0])["format"] == "claims-log"
    assert orjson.loads(lines[-1]) == {"end": True, "events": len(lines) - 2,
                                       "head": orjson.loads(checkpoint.read_bytes())["head"]}

    monkeypatch.setenv("CLAIMS_DB_SCHEMA", other_schema)
    code, out = claims(capsys, "import", str(backup))
    assert code == 0, out
    assert f"imported {len(lines) - 2} events" in out
    assert rows(env, other_schema, EVENTS) == rows(env, env.db_schema, EVENTS)  # positions (with the gap) and bytes
    assert rows(env, other_schema, "event_chain") == rows(env, env.db_schema, "event_chain")
    code, out = claims(capsys, "audit", "verify", "--checkpoint", str(checkpoint))
    assert code == 0, out
    assert "the current log extends it" in out

    # The restored store takes new events after the last restored position, chained to its head.
    from api.bootstrap import bootstrap
    from tests.conftest import meta

    restored = bootstrap(env.model_copy(update={"db_schema": other_schema}))
    try:
        saved = restored.app.put_topic("nach-dem-import", "Nach dem Import", None, meta())
        last = orjson.loads(lines[-2])["position"]
        assert last > 40 and saved.position == last + 1
    finally:
        restored.close()
    code, out = claims(capsys, "audit", "verify", "--checkpoint", str(checkpoint))
    assert code == 0, out

    # A second import into the store, now not empty, is refused.
    code, out = claims(capsys, "import", str(backup))
    assert code == 1 and "not empty" in out


def changed_state(lines: list[bytes], index: int) -> None:
    """One byte of one event's stored bytes changed, the line otherwise well-formed."""
    item = orjson.loads(lines[index])
    state = bytearray(base64.b64decode(item["state"]))
    state[10] ^= 1
    lines[index] = orjson.dumps({**item, "state": base64.b64encode(bytes(state)).decode()})


@pytest.mark.parametrize(("damage", "bad_line", "why"), [
    (lambda lines: changed_state(lines, 4), 5, "does not hash"),
    (lambda lines: lines.__setitem__(3, lines[3][:-10]), 4, "not JSON"),
    (lambda lines: lines.pop(4), 5, "prev_hash"),
    (lambda lines: lines.pop(), None, "closing line"),
    (lambda lines: lines.__setitem__(0, b'{"format": "something-else"}'), 1, "not a backup"),
])
def test_a_damaged_file_is_refused_with_its_first_bad_line_and_nothing_is_imported(  # noqa: PLR0913
    api: Any, env: Settings, other_schema: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, damage: Any, bad_line: int | None, why: str,
) -> None:
    a_log_with_a_gap(api, env)
    backup = tmp_path / "log.ndjson"
    assert claims(capsys, "export", str(backup))[0] == 0
    lines = backup.read_bytes().splitlines()
    damage(lines)
    backup.write_bytes(b"\n".join(lines) + b"\n")
    monkeypatch.setenv("CLAIMS_DB_SCHEMA", other_schema)
    code, out = claims(capsys, "import", str(backup))
    assert code == 1, out
    assert "nothing imported" in out and why in out
    expected_line = bad_line if bad_line is not None else len(lines) + 1
    assert f"line {expected_line}:" in out
    assert rows(env, other_schema, EVENTS) == []
    assert rows(env, other_schema, "event_chain") == []
