"""Fixtures: a real PostgreSQL for integration and e2e tests, started by the test run itself.

CLAIMS_TEST_DATABASE_URL names an external server; without it an embedded server is
started under a temporary directory. Each test gets a schema of its own, dropped after.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from adapters.database import Database
from adapters.settings import Settings
from api.bootstrap import Services, bootstrap
from domain.base import Meta


def meta(by: str = "tester", correlation_id: str = "test") -> Meta:
    return Meta(recorded_at=datetime.now(UTC), recorded_by=by, correlation_id=correlation_id)


@pytest.fixture(scope="session")
def pg_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("claims-home")


@pytest.fixture(scope="session")
def pg_url(pg_home: Path) -> Iterator[str]:
    """A real PostgreSQL for the whole run."""
    external = os.environ.get("CLAIMS_TEST_DATABASE_URL")
    if external:
        yield external
        return
    database = Database(Settings(home=pg_home, database_url=None))
    try:
        yield database.start()
    finally:
        database.stop()


@pytest.fixture
def settings(pg_url: str) -> Iterator[Settings]:
    """Settings on a fresh schema of the test database."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield Settings(database_url=pg_url, db_schema=schema, pool_size=4, pool_max_overflow=8)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    services = bootstrap(settings)
    try:
        yield services
    finally:
        services.close()


@pytest.fixture
def client(services: Services) -> Iterator[object]:
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(services=services)) as client:
        yield client
