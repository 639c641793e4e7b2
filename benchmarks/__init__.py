"""glutebot's benchmarks: run on demand with `python -m benchmarks`, never in the tests.

Each module measures one thing and returns `Figure`s; `__main__` runs them and prints a
table of every figure next to its target. The results from a reference machine are in
docs/BENCHMARKS.md.
"""
