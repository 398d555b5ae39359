"""The list of tests that also run on JAX and PyTorch names tests that exist."""

from pathlib import Path

from conftest import BACKEND_TESTS

TESTS = Path(__file__).resolve().parent


def test_every_backend_test_path_exists():
    for entry in BACKEND_TESTS:
        path, _, name = entry.partition("::")
        assert (TESTS / path).exists(), entry
        if name:
            function = name.partition("[")[0]
            assert f"def {function}(" in (TESTS / path).read_text(), entry
