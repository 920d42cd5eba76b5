"""The tamper-evident log: the hash chain, append-only triggers, verification, signed checkpoints.

Tampering is done as the test database's superuser, which can drop the triggers: exactly
the attacker the chain and the checkpoints are there to catch. One test per tampering,
each on its own schema.
"""

from __future__ import annotations

import base64
import hashlib
import stat
import struct
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from psycopg import sql

from adapters.audit import GENESIS, AuditLog, canonical
from adapters.settings import Settings
from api import cli
from domain.base import Meta
from tests.integration.conftest import claim_body

EVENTS = "claims_events"
FORGE = "INSERT INTO {s}.{events} (originator_id, originator_version, topic, state, notification_id)"
# Flips the lowest bit of the 21st byte of the event at {position} (twice: back as it was).
FLIP = ("UPDATE {{s}}.{{events}} SET state = set_byte(state, 20, get_byte(state, 20) # 1) "
        "WHERE notification_id = {position}")


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """The test schema, with $CLAIMS_HOME (where the checkpoint key is made) in a scratch directory."""
    return settings.model_copy(update={"home": tmp_path / "home"})


def superuser(settings: Settings, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run SQL as the test connection's superuser, with {s} the schema and {events} the events table."""
    assert settings.database_url is not None
    query = sql.SQL(statement).format(s=sql.Identifier(settings.db_schema), events=sql.Identifier(EVENTS))
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        cursor = conn.execute(query, params or None)
        return cursor.fetchall() if cursor.description else []


def record(api: Any, n: int = 3) -> list[str]:
    """n claims, one request each; their ids."""
    return [api.post("/v1/claims", json=claim_body(text=f"Aussage {i}")).json()["id"] for i in range(n)]


def verify_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli.main(["audit", "verify", *argv])
    out, err = capsys.readouterr()
    return code, out + err


def positions(settings: Settings) -> list[int]:
    return [r[0] for r in superuser(settings, "SELECT notification_id FROM {s}.{events} ORDER BY 1")]


# -- the chain ---------------------------------------------------------------------------


def test_the_chain_verifies_after_writes_and_a_batch_in_one_transaction(api: Any, services: Any) -> None:
    ids = record(api)
    base = f"/v1/claims/{ids[0]}"
    correction = {"changes": {"stance": "mixed"}, "reason": "r"}
    assert api.post(f"{base}/corrections", json=correction, headers={"If-Match": '"1"'}).is_success
    items = [claim_body(text=f"Stapel {i}", topic=f"topic-{i % 7}") for i in range(150)]
    batch = api.post("/v1/claims/batch", json=items)  # one transaction
    assert batch.status_code == 201
    head = int(batch.headers["X-Event-Position"])

    answer = api.get("/v1/audit/verify").json()
    assert answer["ok"] is True and answer["events"] == head  # no gaps here: one event a position

    items, after = [], 0
    while True:
        page = api.get("/v1/audit/events", params={"after": after, "limit": 100}).json()
        items += page["items"]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert [i["position"] for i in items] == list(range(1, head + 1))
    prev = GENESIS.hex()
    for item in items:  # each links to the one before, from 32 zero bytes
        assert item["prev_hash"] == prev
        prev = item["hash"]
    assert prev == answer["head"]
    assert AuditLog.of(services.app).head() == (head, bytes.fromhex(prev))


def chain(settings: Settings) -> list[tuple[Any, ...]]:
    return superuser(settings, "SELECT position, hash, prev_hash FROM {s}.event_chain ORDER BY position")


def test_concurrent_batches_and_single_claims_are_chained_as_event_by_event(api: Any, services: Any,
                                                                            settings: Settings) -> None:
    """The chain trigger runs once per statement (a COPY of a batch, an INSERT); what it makes is what
    chaining each event on its own makes (the per-event function the start-up backfill uses)."""
    record(api, 1)  # the topic, defined (else the writers' first claims race to define it)
    meta = Meta(recorded_at=datetime.now(UTC), recorded_by="test", correlation_id="c")

    def write(n: int) -> None:
        for i in range(4):
            if n % 2:
                services.app.record_claims([claim_body(text=f"Stapel {n} {i} {j}") for j in range(80)], meta)
            else:
                services.app.record_claim(claim_body(text=f"Einzeln {n} {i}"), meta)

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(write, range(6)))
    made = chain(settings)
    assert [row[0] for row in made] == positions(settings)  # every event, once, in position order
    assert api.get("/v1/audit/verify").json()["ok"] is True
    superuser(settings, "DROP TABLE {s}.event_chain; DROP TRIGGER claims_events_chain ON {s}.{events}")
    assert AuditLog.of(services.app).install() == len(made)  # chained again, one event at a time
    assert chain(settings) == made


def test_a_database_with_the_per_row_chain_trigger_gets_the_per_statement_one(
    api: Any, services: Any, settings: Settings
) -> None:
    record(api, 2)
    superuser(settings, """
        DROP TRIGGER claims_events_chain ON {s}.{events};
        CREATE FUNCTION {s}.claims_events_chain_insert() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM {s}.claims_events_chain_append(NEW.notification_id,
            {s}.claims_events_canonical(NEW.originator_id::text, NEW.originator_version, NEW.topic, NEW.state));
          RETURN NULL;
        END $$;
        CREATE TRIGGER claims_events_chain AFTER INSERT ON {s}.{events}
          FOR EACH ROW EXECUTE FUNCTION {s}.claims_events_chain_insert();
        COMMENT ON TABLE {s}.event_chain IS 'claims hash chain v1'""")
    record(api, 1)  # chained by the old trigger
    assert AuditLog.of(services.app).install() == 0
    triggers = superuser(settings, "SELECT tgname, tgtype & 1 = 1 AS per_row FROM pg_trigger t JOIN pg_class c "
                                   "ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                                   "WHERE n.nspname = %s AND c.relname = %s AND tgname LIKE %s",
                         settings.db_schema, EVENTS, "%chain%")
    assert triggers == [("claims_events_chain", False)]
    assert superuser(settings, "SELECT to_regprocedure(%s)", f"{settings.db_schema}.claims_events_chain_insert()") \
        == [(None,)]
    record(api, 2)
    answer = api.get("/v1/audit/verify").json()
    assert (answer["ok"], answer["events"], answer["head"]) == (True, len(positions(settings)),
                                                                chain(settings)[-1][1].hex())


def test_audit_events_show_stream_version_type_and_time(api: Any) -> None:
    claim_id = record(api, 1)[0]
    items = api.get("/v1/audit/events", params={"limit": 1000}).json()["items"]
    assert {"PartyRegistered", "AliasReserved", "TopicDefined", "ClaimAsserted"} <= {i["type"] for i in items}
    asserted = next(i for i in items if i["stream"] == claim_id)
    assert (asserted["version"], asserted["type"]) == (1, "ClaimAsserted")
    recorded_at = api.get(f"/v1/claims/{claim_id}").json()["recorded_at"]
    assert datetime.fromisoformat(asserted["recorded_at"]) == datetime.fromisoformat(recorded_at)
    page = api.get("/v1/audit/events", params={"after": 2, "limit": 2}).json()
    assert [i["position"] for i in page["items"]] == [3, 4] and page["next_after"] == 4
    assert api.get("/v1/audit/events", params={"limit": 1001}).status_code == 422


def test_the_database_computes_the_documented_canonical_bytes(api: Any, settings: Settings) -> None:
    cases = [("5b0c0000-0000-4000-8000-000000000001", 3, "domain.claim:Claim.ClaimAsserted", b'{"a":1}'),
             ("x", -1, None, None), ("", 0, "ü", b"")]
    for case in cases:
        (db,) = superuser(settings, "SELECT {s}.claims_events_canonical(%s, %s, %s, %s)", *case)[0]
        assert bytes(db) == canonical(*case)
    assert canonical("ab", 1, None, b"\x00") == (
        struct.pack(">i", 2) + b"ab" + struct.pack(">q", 1) + b"\xff\xff\xff\xff" + struct.pack(">i", 1) + b"\x00"
    )
    (first,) = superuser(settings, "SELECT hash FROM {s}.event_chain ORDER BY position LIMIT 1")[0]
    row = superuser(settings, "SELECT originator_id::text, originator_version, topic, state FROM {s}.{events} "
                              "WHERE notification_id = 1")[0]
    assert bytes(first) == hashlib.sha256(GENESIS + canonical(row[0], row[1], row[2], bytes(row[3]))
                                          + struct.pack(">q", 1)).digest()


def test_events_stored_before_the_chain_existed_are_chained_at_start_up(
    api: Any, services: Any, settings: Settings
) -> None:
    record(api, 2)
    superuser(settings, "DROP TABLE {s}.event_chain; DROP TRIGGER claims_events_chain ON {s}.{events}")
    record(api, 1)  # no trigger: not chained
    assert AuditLog.of(services.app).install() == len(positions(settings))
    answer = api.get("/v1/audit/verify").json()
    assert answer["ok"] is True and answer["events"] == len(positions(settings))
    assert AuditLog.of(services.app).install() == 0  # idempotent


# -- append-only -------------------------------------------------------------------------


@pytest.mark.parametrize("statement", [
    "UPDATE {s}.{events} SET state = state WHERE notification_id = 1",
    "DELETE FROM {s}.{events} WHERE notification_id = 1",
    "TRUNCATE {s}.{events} CASCADE",
    "UPDATE {s}.event_chain SET hash = prev_hash",
    "DELETE FROM {s}.event_chain",
    "TRUNCATE {s}.event_chain",
])
def test_updates_and_deletes_are_refused_by_the_database(api: Any, settings: Settings, statement: str) -> None:
    record(api, 1)
    with pytest.raises(psycopg.errors.RaiseException, match="refused: the event log is append-only"):
        superuser(settings, statement)


def test_an_event_stored_out_of_position_order_is_refused(api: Any, settings: Settings) -> None:
    record(api, 1)
    superuser(settings, "SELECT setval(pg_get_serial_sequence('{s}.{events}', 'notification_id'), 100)")
    record(api, 1)
    with pytest.raises(psycopg.errors.RaiseException, match="cannot be chained after position"):
        superuser(settings, f"{FORGE} SELECT gen_random_uuid(), 1, topic, state, 50 FROM {{s}}.{{events}} LIMIT 1")


# -- tampering, with the triggers dropped by a superuser ------------------------------------


def test_a_changed_byte_is_found_at_its_position(api: Any, settings: Settings) -> None:
    record(api)
    superuser(settings, "DROP TRIGGER claims_events_append_only ON {s}.{events}")
    superuser(settings, FLIP.format(position=5))
    answer = api.get("/v1/audit/verify").json()
    assert answer["ok"] is False and answer["first_bad_position"] == 5
    assert "does not hash to its recorded hash" in answer["reason"]
    superuser(settings, FLIP.format(position=5))  # flipped back: intact again
    assert api.get("/v1/audit/verify").json()["ok"] is True


def test_a_deleted_event_is_found(api: Any, settings: Settings) -> None:
    record(api)
    superuser(settings, "DROP TRIGGER claims_events_append_only ON {s}.{events}")
    superuser(settings, "DELETE FROM {s}.{events} WHERE notification_id = 6")
    answer = api.get("/v1/audit/verify").json()
    assert (answer["ok"], answer["first_bad_position"]) == (False, 6)
    assert "deleted" in answer["reason"]


def test_an_event_deleted_with_its_chain_entry_breaks_the_chain(api: Any, settings: Settings) -> None:
    record(api)
    superuser(settings, "DROP TRIGGER claims_events_append_only ON {s}.{events}; "
                        "DROP TRIGGER event_chain_append_only ON {s}.event_chain")
    superuser(settings, "DELETE FROM {s}.{events} WHERE notification_id = 6; "
                        "DELETE FROM {s}.event_chain WHERE position = 6")
    answer = api.get("/v1/audit/verify").json()
    assert (answer["ok"], answer["first_bad_position"]) == (False, 7)
    assert "chain is broken" in answer["reason"]


def test_an_event_inserted_in_the_middle_is_found(api: Any, settings: Settings) -> None:
    record(api, 1)
    gap = positions(settings)[-1] + 1
    superuser(settings, "SELECT setval(pg_get_serial_sequence('{s}.{events}', 'notification_id'), %s)", gap + 1)
    record(api, 2)  # a gap, as a rolled-back insert leaves one
    assert api.get("/v1/audit/verify").json()["ok"] is True
    superuser(settings, "DROP TRIGGER claims_events_chain ON {s}.{events}")
    superuser(settings, f"{FORGE} SELECT gen_random_uuid(), 1, topic, state, %s FROM {{s}}.{{events}} "
                        "ORDER BY notification_id DESC LIMIT 1", gap)
    answer = api.get("/v1/audit/verify").json()
    assert (answer["ok"], answer["first_bad_position"]) == (False, gap)
    assert "has no entry in the chain" in answer["reason"]


def test_cli_verify_exits_0_when_intact_and_1_when_tampered(
    api: Any, env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    record(api)
    code, out = verify_cli(capsys)
    assert code == 0 and "intact" in out, out
    superuser(env, "DROP TRIGGER claims_events_append_only ON {s}.{events}")
    superuser(env, "UPDATE {s}.{events} SET state = state || '\\x20'::bytea WHERE notification_id = 3")
    code, out = verify_cli(capsys)
    assert code == 1 and "first bad position 3" in out, out


# -- signed checkpoints --------------------------------------------------------------------


def test_a_checkpoint_is_signed_with_the_servers_key(api: Any, settings: Settings) -> None:
    record(api, 2)
    cp = api.get("/v1/audit/checkpoint").json()
    assert cp["signed"] == f"claims-checkpoint\n{cp['size']}\n{cp['head']}\n{cp['timestamp']}"
    public = base64.b64decode(cp["public_key"])
    assert len(public) == 32
    Ed25519PublicKey.from_public_bytes(public).verify(base64.b64decode(cp["signature"]), cp["signed"].encode())
    verified = api.get("/v1/audit/verify").json()
    assert (cp["size"], cp["head"]) == (verified["events"], verified["head"])
    key = settings.home / "checkpoint-key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert api.get("/v1/audit/checkpoint").json()["public_key"] == cp["public_key"]  # the same key, kept


def test_a_later_log_extends_an_earlier_checkpoint(
    api: Any, env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record(api, 2)
    saved = tmp_path / "checkpoint.json"
    saved.write_bytes(api.get("/v1/audit/checkpoint").content)
    record(api, 3)
    code, out = verify_cli(capsys, "--checkpoint", str(saved))
    assert code == 0 and "the current log extends it" in out, out


def test_a_forged_checkpoint_is_rejected(
    api: Any, env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record(api, 2)
    cp = api.get("/v1/audit/checkpoint").json()
    saved = tmp_path / "checkpoint.json"
    smaller = cp["size"] - 1
    resigned = {**cp, "size": smaller, "signed": f"claims-checkpoint\n{smaller}\n{cp['head']}\n{cp['timestamp']}"}
    for forged in ({**cp, "size": smaller}, resigned, {**cp, "signature": base64.b64encode(bytes(64)).decode()}):
        saved.write_bytes(orjson.dumps(forged))
        code, out = verify_cli(capsys, "--checkpoint", str(saved))
        assert code == 1 and "checkpoint rejected" in out, out


def test_a_consistently_rewritten_log_no_longer_extends_the_checkpoint(
    api: Any, services: Any, env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record(api, 3)
    saved = tmp_path / "checkpoint.json"
    saved.write_bytes(api.get("/v1/audit/checkpoint").content)
    # A superuser changes an event and rebuilds the whole chain to match.
    superuser(env, "DROP TRIGGER claims_events_append_only ON {s}.{events}; "
                   "DROP TRIGGER event_chain_append_only ON {s}.event_chain")
    superuser(env, FLIP.format(position=4))
    superuser(env, "DELETE FROM {s}.event_chain")
    AuditLog.of(services.app).install()

    code, out = verify_cli(capsys)
    assert code == 0, out  # the chain alone cannot tell
    code, out = verify_cli(capsys, "--checkpoint", str(saved))
    assert code == 1 and "NOT extended" in out, out
