"""The benchmarks, run from the checkout as ``python -m bench.NAME`` (see docs/performance.md)."""
