"""Benchmarks: ``python -m bench.<name>`` prints a table with the naive way measured beside."""
