"""Suite-wide markers: which tests also run on the JAX and PyTorch backends, and which cannot.

`make test` runs the suite on TensorFlow. The tests whose subject is Keras-facing (layers, loss,
model builders and files, prediction, training with `fit`, the SSD7 tutorial flows) also carry
the `backends` marker, and `make test-backends` runs `pytest -m backends` once per other backend
with `KERAS_BACKEND` set. `BACKEND_TESTS` below is the one place that says which tests those are.

A test that cannot run on some backend says so with
`@pytest.mark.only_backends("tensorflow", reason="...")`; on the other backends it is reported
as skipped with that reason.
"""

from __future__ import annotations

import pytest

# Paths relative to `tests/`, or full node ids: every test under them gets the `backends` marker.
BACKEND_TESTS = (
    "keras_layers/",
    "keras_loss_function/",
    "models/",
    "ssd_encoder_decoder/test_ssd_input_encoder_from_model.py",
    "notebooks/test_seed_tutorial.py",
    "notebooks/test_notebooks.py::test_notebook_runs[ssd7_training]",
)


def _keras_backend() -> str:
    """The Keras backend of this run, without importing Keras when no test needs it."""
    import keras

    return keras.backend.backend()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    backend = None
    for item in items:
        node = item.nodeid.removeprefix("tests/")
        if node.startswith(BACKEND_TESTS):
            item.add_marker(pytest.mark.backends)
        marker = item.get_closest_marker("only_backends")
        if marker is None:
            continue
        backend = backend or _keras_backend()
        if backend not in marker.args:
            reason = marker.kwargs.get("reason", "")
            if not reason:
                raise pytest.UsageError(f"{item.nodeid}: only_backends(...) needs a reason")
            names = " or ".join(marker.args)
            item.add_marker(pytest.mark.skip(reason=f"needs {names}, not {backend}: {reason}"))
