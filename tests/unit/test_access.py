"""Which addresses count as loopback (where a server with no key may be open), and which role allows what."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.keys import ApiKey
from api.auth import is_loopback


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "LOCALHOST", "::1", "[::1]",
                                  "::ffff:127.0.0.1"])
def test_loopback_addresses_may_serve_without_a_key(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "[::]", "192.168.1.5", "10.0.0.1", "2001:db8::1",
                                  "::ffff:192.0.2.1", "example.org", "my-laptop", ""])
def test_other_addresses_and_host_names_are_not_loopback(host: str) -> None:
    assert not is_loopback(host)


@pytest.mark.parametrize(("role", "allowed"), [("reader", {"reader"}), ("writer", {"reader", "writer"}),
                                               ("admin", {"reader", "writer", "admin"})])
def test_each_role_allows_itself_and_the_roles_below(role: str, allowed: set[str]) -> None:
    key = ApiKey("k", role, datetime.now(UTC))  # type: ignore[arg-type]
    assert {r for r in ("reader", "writer", "admin") if key.allows(r)} == allowed  # type: ignore[arg-type]



def test_every_route_under_v1_needs_a_key_and_no_other_does() -> None:
    from adapters.settings import Settings
    from api.app import create_app

    paths = create_app(Settings()).openapi()["paths"]
    secured = {(path, method) for path, ops in paths.items() for method, op in ops.items() if op.get("security")}
    every = {(path, method) for path, ops in paths.items() for method in ops}
    assert any(path.startswith("/v1/") for path, _ in every)
    assert {(path, method) for path, method in every if path.startswith("/v1/")} == secured
