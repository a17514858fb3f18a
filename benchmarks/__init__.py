"""Benchmarks that print measured speeds; run as python -m benchmarks.<name>."""
