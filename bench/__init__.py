"""MeshHook's benchmarks: `python -m bench` (`make bench`) measures the running system
from outside and prints the figures as a table; see bench/README.md.

Not part of the test suite and not installed with the project.
"""
