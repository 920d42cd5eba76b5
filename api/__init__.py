"""The HTTP API (FastAPI) and the `claims` command line."""
