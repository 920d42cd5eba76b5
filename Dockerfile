# The `claims` service: `claims serve` by default; `claims project` runs the projection workers alone.
# Against an external PostgreSQL, set DATABASE_URL (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # Only used when DATABASE_URL is unset (embedded PostgreSQL): somewhere the user may write.
    CLAIMS_HOME=/home/claims/.claims

RUN groupadd --system claims \
 && useradd --system --gid claims --create-home --home-dir /home/claims claims

WORKDIR /app

# constraints.txt is the lock file (`make lock`); the install is pinned by it.
COPY pyproject.toml constraints.txt README.md ./
COPY domain/ domain/
COPY adapters/ adapters/
COPY api/ api/
COPY projections/ projections/
COPY examples/ examples/

RUN pip install --no-cache-dir -c constraints.txt .

USER claims

EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

CMD ["claims", "serve", "--host", "0.0.0.0", "--port", "8000"]
