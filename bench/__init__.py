"""Benchmarks and the fault suite, run from the repository root (``python -m bench.chaos``)."""
