"""One data-parallel training step applies the gradient of the documented distributed SSD loss.

Each check runs `python tests/ssd_app/test_distribute_loss.py ROUTE` in a subprocess with the
route's backend and two logical CPU devices: it trains a small SSD7 for one step with plain SGD
(learning rate 1, no momentum), so the weight change is minus the gradient that was applied, and
compares it with the single-device gradient of the formula in docs/distributed.md:

* `mirrored` (TensorFlow): `(1/R) * sum_r SSDLoss(y_r, model(x_r))`, each replica's half of the
  batch on its own (its own hard negative mining, positive count and batch-norm statistics);
  with `normalization='global'` the sum of the per-image losses of the whole batch, negatives
  mined over the whole batch, divided by the positives of the whole batch (batch-norm statistics
  still per replica);
* `data_parallel` (JAX): `SSDLoss(y, model(x))` on the whole batch, as on one device.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOLERANCE = 1e-4
"""Largest accepted `max |applied - expected| / max |expected|` over all weights (float32)."""

BATCH, REPLICAS, N_CLASSES, IMAGE_SIZE = 4, 2, 2, (64, 96, 3)


def _targets(n_boxes: int) -> np.ndarray:
    """Encoded targets `(BATCH, n_boxes, N_CLASSES + 1 + 12)`: mostly background, a few neutral
    boxes, and many more positives in the second half of the batch than in the first."""
    rng = np.random.default_rng(1)
    y = np.zeros((BATCH, n_boxes, N_CLASSES + 1 + 12), "float32")
    y[:, :, 0] = 1.0
    for image, n_pos in enumerate((1, 2, 9, 14)):
        boxes = rng.choice(n_boxes, size=n_pos + 5, replace=False)
        y[image, boxes[:n_pos], 0] = 0.0
        y[image, boxes[:n_pos], 1 + rng.integers(0, N_CLASSES, n_pos)] = 1.0
        y[image, boxes[n_pos:], 0] = 0.0  # neutral
        y[image, boxes[:n_pos], N_CLASSES + 1 : N_CLASSES + 5] = rng.normal(size=(n_pos, 4))
    return y


def _build(normalization: str | None):
    import keras

    from keras_loss_function.keras_ssd_loss import SSDLoss
    from models.keras_ssd7 import build_model

    keras.utils.set_random_seed(0)
    model = build_model(IMAGE_SIZE, N_CLASSES)
    kwargs = {} if normalization is None else {"normalization": normalization}
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss=SSDLoss(**kwargs))
    return model


def _reference_gradients(model, x, y, parts: int, loss, joint: bool = False) -> list:
    """Gradients of `(1/parts) * sum_p loss(y_p, model(x_p))` on the default device, or with
    `joint` of `loss(y, concatenate_p model(x_p))`."""
    import keras

    def formula(y_preds):
        if joint:
            return loss(y, keras.ops.concatenate(y_preds, axis=0))
        total = 0.0
        for part, y_pred in zip(np.split(y, parts), y_preds, strict=True):
            total = total + loss(part, y_pred)
        return total / parts

    if keras.backend.backend() == "jax":
        import jax

        def value(trainable):
            non_trainable = [v.value for v in model.non_trainable_variables]
            y_preds = [
                model.stateless_call(trainable, non_trainable, part, training=True)[0]
                for part in np.split(x, parts)
            ]
            return formula(y_preds)

        grads = jax.grad(value)([v.value for v in model.trainable_variables])
        return [np.asarray(g) for g in grads]
    import tensorflow as tf

    with tf.GradientTape() as tape:
        value = formula([model(part, training=True) for part in np.split(x, parts)])
    return [g.numpy() for g in tape.gradient(value, model.trainable_variables)]


def _relative_error(applied: list, expected: list) -> float:
    scale = max(float(np.max(np.abs(g))) for g in expected)
    return max(float(np.max(np.abs(a - e))) for a, e in zip(applied, expected, strict=True)) / scale


def run_step(route: str, normalization: str | None) -> dict:
    """Trains one distributed step and measures it against the single-device formulas."""
    from ssd_app.distribute import setup_distribution

    dist = setup_distribution(route, cpu_devices=REPLICAS)
    import keras

    from keras_loss_function.keras_ssd_loss import SSDLoss

    with dist.scope():
        model = _build(normalization)
    x = np.random.default_rng(0).uniform(0, 255, (BATCH, *IMAGE_SIZE)).astype("float32")
    n_boxes = model.output_shape[1]
    y = _targets(n_boxes)
    before = model.get_weights()
    trainable = [id(v) for v in model.trainable_variables]
    index = [i for i, v in enumerate(model.weights) if id(v) in trainable]
    history = model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    after = model.get_weights()
    applied = [before[i] - after[i] for i in index]  # lr 1: the applied gradient

    if route == "data_parallel":
        keras.distribution.set_distribution(None)
    reference = _build(None)  # one device, same initial weights
    reference.set_weights(before)
    kwargs = {} if normalization is None else {"normalization": normalization}
    loss = SSDLoss(**kwargs)
    per_replica = _reference_gradients(reference, x, y, REPLICAS, loss)
    whole = _reference_gradients(reference, x, y, 1, loss)
    joint = _reference_gradients(reference, x, y, REPLICAS, loss, joint=True)
    return {
        "replicas": dist.num_replicas,
        "reported_loss": float(history.history["loss"][0]),
        "error_vs_per_replica_formula": _relative_error(applied, per_replica),
        "error_vs_whole_batch_formula": _relative_error(applied, whole),
        "error_vs_global_formula": _relative_error(applied, joint),
        "per_replica_vs_whole_batch": _relative_error(per_replica, whole),
        "per_replica_vs_global": _relative_error(per_replica, joint),
    }


def _run(route: str, backend: str, normalization: str = "default") -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": REPO_ROOT}
    result = subprocess.run(
        [sys.executable, os.path.abspath(__file__), route, normalization],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_mirrored_step_applies_the_mean_of_the_per_replica_losses():
    measured = _run("mirrored", "tensorflow")
    print(json.dumps(measured))
    assert measured["replicas"] == REPLICAS
    assert measured["error_vs_per_replica_formula"] < TOLERANCE
    # the targets are chosen so that the two formulas differ clearly
    assert measured["per_replica_vs_whole_batch"] > 100 * TOLERANCE


@pytest.mark.slow
def test_mirrored_step_with_global_normalization_applies_the_global_batch_loss():
    measured = _run("mirrored", "tensorflow", "global")
    print(json.dumps(measured))
    assert measured["error_vs_global_formula"] < TOLERANCE
    assert measured["per_replica_vs_global"] > 100 * TOLERANCE


@pytest.mark.slow
def test_data_parallel_step_applies_the_whole_batch_loss():
    measured = _run("data_parallel", "jax")
    print(json.dumps(measured))
    assert measured["replicas"] == REPLICAS
    assert measured["error_vs_whole_batch_formula"] < TOLERANCE
    assert measured["per_replica_vs_whole_batch"] > 100 * TOLERANCE


if __name__ == "__main__":
    sys.path.insert(0, REPO_ROOT)
    choice = None if sys.argv[2] == "default" else sys.argv[2]
    print(json.dumps(run_step(sys.argv[1], choice)))
