"""Benchmarks of the ertcloud client and simulator: ``python -m benchmarks``."""
