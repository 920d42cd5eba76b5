"""The composition root: settings in, a running application (and its database) out."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.database import Database
from adapters.settings import Settings
from domain.application import ClaimsApplication


@dataclass
class Services:
    """What the API and the command line work with."""

    settings: Settings
    database: Database
    app: ClaimsApplication

    def close(self) -> None:
        self.app.close()
        self.database.stop()


def bootstrap(settings: Settings | None = None) -> Services:
    """Start (or reach) the database, create the schema on first use, construct the application."""
    settings = settings or Settings()
    database = Database(settings)
    url = database.start()
    try:
        app = ClaimsApplication(env=settings.eventsourcing_env(url))
    except BaseException:
        database.stop()
        raise
    return Services(settings=settings, database=database, app=app)
