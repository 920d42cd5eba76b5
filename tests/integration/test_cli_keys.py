"""`claims keys create | list | revoke`, and `claims serve` refusing to be open beyond loopback."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.settings import Settings
from api import cli


@pytest.fixture
def sigterm() -> Iterator[None]:
    """`claims serve` installs a SIGTERM handler; give the test process its own back."""
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_keys_create_prints_the_token_once_list_never_shows_it_revoke_refuses_it(
    env: Settings, capsys: pytest.CaptureFixture[str], client: Any
) -> None:
    code, out, err = run(capsys, "keys", "create", "--name", "desk-1", "--role", "writer")
    assert code == 0, err
    token = out.strip()
    assert token.startswith("clm_") and len(token) > 40
    assert "shown only this once" in " ".join(err.split())

    code, out, _ = run(capsys, "keys", "list")
    assert code == 0
    assert "desk-1" in out and "writer" in out
    assert token not in out
    code, out, _ = run(capsys, "keys", "list", "--format", "json")
    assert '"name": "desk-1"' in out and '"revoked_at": null' in out and token not in out

    assert client.get("/v1/claims").status_code == 401
    assert client.get("/v1/claims", headers={"Authorization": f"Bearer {token}"}).status_code == 200

    assert run(capsys, "keys", "create", "--name", "ops", "--role", "admin")[0] == 0  # keeps the server closed
    code, _, err = run(capsys, "keys", "revoke", "desk-1")
    assert code == 0, err
    assert "revoked" in err
    code, out, _ = run(capsys, "keys", "list", "--format", "json")
    assert out.count('"revoked_at": null') == 1  # ops only
    deadline = time.monotonic() + 5
    while client.get("/v1/claims", headers={"Authorization": f"Bearer {token}"}).status_code != 401:
        assert time.monotonic() < deadline, "the revoked key still works"
        time.sleep(0.05)
    code, _, err = run(capsys, "keys", "revoke", "desk-1")
    assert code == 0 and "already revoked" in err


def test_keys_create_with_a_taken_name_is_refused(env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "keys", "create", "--name", "desk", "--role", "reader")[0] == 0
    code, out, err = run(capsys, "keys", "create", "--name", "desk", "--role", "admin")
    assert code == 1
    assert out == ""
    assert "a key named 'desk' exists" in " ".join(err.split())
    run(capsys, "keys", "revoke", "desk")
    code, _, err = run(capsys, "keys", "create", "--name", "desk", "--role", "reader")
    assert code == 1
    assert "revoked" in err  # names are never reused, revoked or not


def test_keys_revoke_of_an_unknown_name_is_exit_1(env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "keys", "revoke", "nobody")
    assert code == 1
    assert "no key is named 'nobody'" in err


def test_keys_create_refuses_a_bad_name_or_role(env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "keys", "create", "--name", "local", "--role", "admin")[0] == 1
    assert run(capsys, "keys", "create", "--name", "has space", "--role", "admin")[0] == 1
    with pytest.raises(SystemExit) as exited:
        cli.main(["keys", "create", "--name", "x", "--role", "root"])
    assert exited.value.code == 2


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.org"])
def test_serve_beyond_loopback_with_no_key_exits_2_before_starting(
    host: str, env: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, sigterm: None
) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("uvicorn started"))
    started = time.monotonic()
    code, _, err = run(capsys, "serve", "--host", host, "--port", "1")
    assert code == 2
    assert time.monotonic() - started < 30
    message = " ".join(err.split())
    assert f"refusing to serve on {host}" in message
    assert "claims keys create --name NAME --role admin" in message


def test_serve_beyond_loopback_starts_once_a_key_exists(
    env: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, sigterm: None
) -> None:
    import uvicorn

    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.update(kwargs))
    assert run(capsys, "keys", "create", "--name", "ops", "--role", "admin")[0] == 0
    code, _, err = run(capsys, "serve", "--host", "0.0.0.0", "--port", "1")
    assert code == 0, err
    assert served["host"] == "0.0.0.0"
