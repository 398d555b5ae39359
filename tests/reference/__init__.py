"""Slow, straightforward reference implementations the tests compare the library with.

Not tests themselves (no module here matches pytest's `test_*.py`). The benchmarks in
`benchmarks/` also use them as speed baselines, appending `tests` to `sys.path` after the
repository root so that the test folders named like library packages cannot shadow them.
"""
