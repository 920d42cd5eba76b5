"""The eventsourcing library's own recorder test cases, run against the recorders we subclass.

The event store's ``adapters.recorder.ClaimsRecorder`` (a ``PostgresApplicationRecorder``
that inserts in one statement) runs the library's application-recorder cases and its
non-interleaving notification-ids case.

Every read model (``projections.view.View``) subclasses the library's
``PostgresTrackingRecorder``, so each must still behave as one: tracking positions
inserted once and only forwards, ``max_tracking_id``, ``has_tracking_id`` and ``wait``.
One TestCase class is generated per view in ``projections.runner.PROJECTIONS``, so a new
read model is covered without touching this file.

The library's cases are ``unittest.TestCase`` classes with a ``create_recorder()`` factory.
pytest runs fixtures for them only if autouse, so ``_database`` below hands them the test
PostgreSQL: ``pg_url`` is CLAIMS_TEST_DATABASE_URL if set, else the embedded server the
session starts; ``settings`` gives a fresh schema, dropped after the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import psycopg
import pytest
from eventsourcing.postgres import PostgresDatastore

try:
    # Imported as a module, not by name: pytest would collect the abstract case itself.
    from eventsourcing.tests import persistence as library_cases
except ModuleNotFoundError as e:  # it imports eventsourcing.cipher, which needs pycryptodome
    raise ModuleNotFoundError(
        f"{e}: the library's test cases need eventsourcing's 'crypto' extra (pycryptodome) in the dev dependencies"
    ) from e
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from adapters.recorder import ClaimsRecorder
from adapters.settings import Settings
from projections.runner import PROJECTIONS
from projections.view import View


class _OnTestDatabase:
    """Hands the library's unittest cases the test PostgreSQL and a fresh schema."""

    url: ClassVar[str]
    schema: ClassVar[str]

    @pytest.fixture(autouse=True)
    def _database(self, pg_url: str, settings: Settings) -> Iterator[None]:
        type(self).url = pg_url
        type(self).schema = settings.db_schema
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(settings.db_schema)))
        self._datastores: list[PostgresDatastore] = []
        yield
        for datastore in self._datastores:  # before ``settings`` drops the schema
            datastore.close()

    def datastore(self, pool_size: int = 2) -> PostgresDatastore:
        conn: dict[str, Any] = conninfo_to_dict(self.url)
        datastore = PostgresDatastore(
            dbname=str(conn.get("dbname", "postgres")),
            host=str(conn.get("host", "localhost")),
            port=str(conn.get("port", "5432")),
            user=str(conn.get("user", "postgres")),
            password=str(conn.get("password", "")),
            schema=self.schema,
            pool_size=pool_size,
            connect_timeout=5,
            pre_ping=True,
        )
        self._datastores.append(datastore)
        return datastore

    def create_recorder(self) -> ClaimsRecorder:
        recorder = ClaimsRecorder(self.datastore(pool_size=4), events_table_name="claims_events")
        recorder.create_table()
        return recorder


class TestClaimsRecorderIsAnApplicationRecorder(_OnTestDatabase, library_cases.ApplicationRecorderTestCase):
    pass


class TestClaimsRecorderCopyingEverySave(TestClaimsRecorderIsAnApplicationRecorder):
    """The same cases with every save written by COPY (a large save's path), not only those of 64+ events."""

    def create_recorder(self) -> ClaimsRecorder:
        recorder = super().create_recorder()
        recorder.copy_from = 1
        return recorder


class TestClaimsRecorderNeverInterleavesNotificationIds(
    _OnTestDatabase, library_cases.NonInterleavingNotificationIDsBaseCase
):
    pass


class TestClaimsRecorderNeverInterleavesCopiedSaves(TestClaimsRecorderNeverInterleavesNotificationIds):
    def create_recorder(self) -> ClaimsRecorder:
        recorder = super().create_recorder()
        recorder.copy_from = 1
        return recorder


class ViewAsTrackingRecorder(_OnTestDatabase, library_cases.TrackingRecorderTestCase):
    """The library's TrackingRecorderTestCase, with ``create_recorder`` building ``view_class``."""

    __test__ = False  # pytest collects any TestCase, whatever its name: only the per-view subclasses run

    view_class: ClassVar[type[View]]

    def create_recorder(self) -> View:  # type: ignore[override]
        view = self.view_class(self.datastore())
        view.create_table()
        return view


def _case_for(view_class: type[View]) -> type[ViewAsTrackingRecorder]:
    name = f"Test{view_class.__name__}IsATrackingRecorder"
    namespace = {"view_class": view_class, "__test__": True, "__module__": __name__, "__qualname__": name}
    return type(name, (ViewAsTrackingRecorder,), namespace)


for _view_class, _ in PROJECTIONS.values():
    _case = _case_for(_view_class)
    globals()[_case.__name__] = _case
del _view_class, _case


def test_every_read_model_has_a_library_recorder_case() -> None:
    cases = {
        value.view_class
        for value in globals().values()
        if isinstance(value, type) and issubclass(value, ViewAsTrackingRecorder) and value.__test__
    }
    assert cases == {view_class for view_class, _ in PROJECTIONS.values()}
    assert set(vars(library_cases.TrackingRecorderTestCase)) >= {"test_insert_tracking", "test_wait"}
