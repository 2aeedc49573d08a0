"""Benchmarks (`make bench` = `python -m benchmarks`): every `bench_*.py` module here."""
