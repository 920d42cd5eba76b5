"""The framework ceiling: POST /v1/claims of the same shape as the service's, writing nothing.

    python -m bench.ceiling [--host 127.0.0.1] [--port 8000]

The same request model (``ClaimIn``), an ``async def`` endpoint as the service's ``record_claim``
(run on the event loop; the service checks the claim in the thread pool), a 201 with a ``ClaimOut`` body and the headers a write
answers with (Location, ETag, X-Event-Position), served by uvicorn the way ``claims serve`` serves
the service: one process, the same ``uvicorn.run`` arguments (uvloop and httptools, no access log).
No middleware, no database: what ingest over HTTP could reach at most on this machine
(bench/ingest.py measures the service against it).
"""

from __future__ import annotations

import argparse
import itertools
from datetime import UTC, datetime
from uuid import uuid4

from fastapi import FastAPI, Response, status

from api.routers import written
from api.schemas.claims import ClaimIn, ClaimOut

app = FastAPI(title="claims: framework ceiling")
_positions = itertools.count(1)


@app.post("/v1/claims", status_code=status.HTTP_201_CREATED, response_model=ClaimOut)
async def record_claim(body: ClaimIn, response: Response) -> ClaimOut:
    """Validate the claim as the service does, answer as the service does, store nothing."""
    claim = body.to_domain()
    claim_id = claim.id or uuid4()
    now = datetime.now(UTC)
    written(response, next(_positions), location=f"/v1/claims/{claim_id}", etag=1)
    return ClaimOut(
        id=claim_id, version=1, speaker=claim.speaker, co_speakers=claim.co_speakers, about=claim.about,
        topic=claim.topic, kind=claim.kind, text=claim.text, language=claim.language,
        verbatim=claim.verbatim, stance=claim.stance, position=claim.position or claim.text,
        stated_at=claim.stated_at, source=claim.source, facts=claim.facts, status="active",
        corroborations=[], disputes=[], superseded_by=None, recorded_at=now, updated_at=now,
    )


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.ceiling", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", access_log=False)  # as api/cli.py's _serve


if __name__ == "__main__":
    main()
