"""Tests of `ssd_app.training_budget`: the warm-up + cosine curve and the budget callback."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from ssd_app.training_budget import BudgetProgbarLogger, TrainingBudget, warmup_cosine


def test_warmup_cosine_hand_values():
    peak = 2.0
    assert warmup_cosine(0.0, peak, 0.1, 0.01) == pytest.approx(0.2)
    assert warmup_cosine(0.05, peak, 0.1, 0.01) == pytest.approx(peak * (0.1 + 0.9 * 0.5))
    assert warmup_cosine(0.1, peak, 0.1, 0.01) == pytest.approx(peak)
    # Halfway through the decay the cosine term is one half.
    assert warmup_cosine(0.55, peak, 0.1, 0.01) == pytest.approx(0.02 + (2.0 - 0.02) * 0.5)
    assert warmup_cosine(1.0, peak, 0.1, 0.01) == pytest.approx(0.02)
    assert warmup_cosine(7.0, peak, 0.1, 0.01) == pytest.approx(0.02)  # clipped
    assert warmup_cosine(-1.0, peak, 0.1, 0.01) == pytest.approx(0.2)


def test_warmup_cosine_shape():
    progress = np.linspace(0, 1, 201)
    rates = np.array([warmup_cosine(p, 1e-3, 0.05, 0.0) for p in progress])
    rising, falling = rates[progress <= 0.05], rates[progress >= 0.05]
    assert np.all(np.diff(rising) > 0)
    assert np.all(np.diff(falling) < 0)
    assert rates.max() == pytest.approx(1e-3)
    assert rates[-1] == pytest.approx(0.0, abs=1e-12)


def test_no_warmup_starts_at_peak():
    assert warmup_cosine(0.0, 3.0, 0.0, 0.0) == pytest.approx(3.0)


def test_constant_schedule():
    assert {warmup_cosine(p, 3.0, 0.0, 1.0) for p in np.linspace(0, 1, 11)} == {3.0}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "exactly one"),
        ({"total_steps": 5, "seconds": 1.0}, "exactly one"),
        ({"total_steps": 0}, "positive"),
        ({"seconds": -2.0}, "positive"),
        ({"total_steps": 5, "warmup_fraction": 1.0}, "warmup_fraction"),
        ({"total_steps": 5, "final_fraction": -0.1}, "final_fraction"),
        ({"total_steps": 5, "final_fraction": 1.5}, "final_fraction"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainingBudget(1e-3, **kwargs)


def _tiny_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss="mse")
    return model


def _data(n=64):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 3)).astype("float32"), rng.normal(size=(n, 1)).astype("float32")


class _RecordRates(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.rates = []

    def on_train_batch_begin(self, batch, logs=None):
        self.rates.append(float(self.model.optimizer.learning_rate.numpy()))


def test_step_budget_sets_rates_and_stops_mid_epoch():
    model = _tiny_model()
    x, y = _data()
    budget = TrainingBudget(0.5, total_steps=10, warmup_fraction=0.2, final_fraction=0.1)
    record = _RecordRates()
    history = model.fit(
        x, y, batch_size=4, epochs=3, callbacks=[budget, record], verbose=0, shuffle=False
    )
    # 16 steps per epoch: the budget of 10 steps ends inside the first epoch.
    assert budget.steps_done == 10
    assert len(history.history["loss"]) == 1
    expected = [warmup_cosine(step / 10, 0.5, 0.2, 0.1) for step in range(10)]
    np.testing.assert_allclose(record.rates, expected, rtol=1e-6)
    assert history.history["learning_rate"] == [pytest.approx(expected[-1])]


def test_time_budget_follows_the_clock():
    now = [100.0]

    def clock():
        return now[0]

    class _Tick(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            now[0] += 1.0  # every step takes one "second"

    model = _tiny_model()
    x, y = _data()
    budget = TrainingBudget(1.0, seconds=6.0, warmup_fraction=0.0, final_fraction=0.0, clock=clock)
    record = _RecordRates()
    model.fit(
        x, y, batch_size=8, epochs=5, callbacks=[_Tick(), budget, record], verbose=0, shuffle=False
    )
    assert budget.steps_done == 6
    assert budget.describe() == "budget: 100% spent (0.1 of 0.1 min), learning rate 6.70e-02"
    expected = [0.5 * (1 + math.cos(math.pi * t / 6)) for t in range(6)]
    np.testing.assert_allclose(record.rates, expected, rtol=1e-6, atol=1e-7)


def test_step_budget_spanning_epochs_logs_each_epoch():
    model = _tiny_model()
    x, y = _data(32)
    budget = TrainingBudget(0.1, total_steps=12)
    history = model.fit(x, y, batch_size=8, epochs=10, callbacks=[budget], verbose=0)
    assert budget.steps_done == 12
    assert len(history.history["loss"]) == 3  # 4 + 4 + 4 steps
    assert budget.describe().startswith("budget: 100% spent (12 of 12 steps), learning rate")


def test_optimizer_applies_each_scheduled_rate():
    """The rates reach the compiled train step, not just the variable (JAX syncs state lazily).

    The loss is `-mean(prediction)` of a bias-free dense layer fed ones, so its gradient is
    exactly -1 and plain SGD moves the weight by the learning rate of every step.
    """
    inputs = keras.Input((1,))
    dense = keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")
    model = keras.Model(inputs, dense(inputs))
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss=lambda _, pred: -keras.ops.mean(pred))
    budget = TrainingBudget(1.0, total_steps=10, warmup_fraction=0.2, final_fraction=0.1)
    ones = np.ones((80, 1), "float32")
    model.fit(ones, ones, batch_size=8, epochs=1, callbacks=[budget], verbose=0)
    expected = sum(warmup_cosine(step / 10, 1.0, 0.2, 0.1) for step in range(10))
    weight = keras.ops.convert_to_numpy(dense.kernel)[0, 0]
    assert weight == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("verbose", [1, 2])
def test_progress_shows_the_budget_not_the_open_ended_epoch_count(verbose, capsys):
    model = _tiny_model()
    x, y = _data(32)
    budget = TrainingBudget(0.1, total_steps=8)
    callbacks = [BudgetProgbarLogger(budget), budget]
    model.fit(x, y, batch_size=8, epochs=10**6, callbacks=callbacks, verbose=verbose)
    out = capsys.readouterr().out
    assert "1000000" not in out
    lines = [line for line in out.splitlines() if line.startswith("Epoch")]
    assert lines == ["Epoch 1: 0% spent (0 of 8 steps)", "Epoch 2: 50% spent (4 of 8 steps)"]
    assert out.count("4/4") == 2  # Keras' own progress output is kept
