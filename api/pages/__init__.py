"""The desk's web pages, served by `claims serve` at / beside the JSON API (same process, same use cases, same views)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.pages import docs, reads, writes
from api.pages.web import HERE


def install(app: FastAPI) -> None:
    """Mount the static files (htmx, Swagger UI, the stylesheet) and the pages' routes on ``app``."""
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(docs.router)
    app.include_router(writes.router)  # before reads: /parties/new is a form, not a party called "new"
    app.include_router(reads.router)
