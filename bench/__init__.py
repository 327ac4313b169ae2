"""Benchmarks for MeshHook Test Runs: `python -m bench` prints the figures as a table.

Not part of the test suite and not installed with the project; see bench/__main__.py.
"""
