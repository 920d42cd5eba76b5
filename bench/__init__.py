"""Benchmarks: `python -m bench.rebuild` (see docs/performance.md)."""
