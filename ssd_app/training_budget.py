"""Training for a fixed budget of steps or wall-clock minutes, with a warm-up + cosine schedule.

A short training run gets most out of its minutes when the learning rate rises for a few percent
of the run, then falls smoothly to almost zero exactly when the budget runs out. A fixed schedule
in epochs cannot do that for a budget in minutes, because the number of steps a machine manages is
only known while training; `TrainingBudget` therefore measures progress as the fraction of
the budget spent (steps done, or seconds elapsed) and sets the learning rate before every batch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import keras


def warmup_cosine(
    progress: float, peak: float, warmup_fraction: float = 0.03, final_fraction: float = 0.01
) -> float:
    """Learning rate at `progress` (0 = start, 1 = end of the budget).

    Rises linearly from `0.1 * peak` to `peak` over the first `warmup_fraction` of the
    budget, then follows half a cosine down to `final_fraction * peak` at `progress == 1`.
    Progress outside `[0, 1]` is clipped.

    Args:
        progress: Fraction of the budget spent.
        peak: The largest learning rate.
        warmup_fraction: Fraction of the budget spent warming up, in `[0, 1)`.
        final_fraction: Learning rate at the end, as a fraction of `peak`.

    Returns:
        The learning rate.
    """
    progress = min(max(float(progress), 0.0), 1.0)
    if progress < warmup_fraction:
        return peak * (0.1 + 0.9 * progress / warmup_fraction)
    decay = (progress - warmup_fraction) / (1.0 - warmup_fraction)
    floor = final_fraction * peak
    return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * decay))


class TrainingBudget(keras.callbacks.Callback):
    """Sets a warm-up + cosine learning rate from the budget spent and stops when it is spent.

    Exactly one of `total_steps` and `seconds` is given. With `total_steps` the run is
    reproducible: progress is `steps done / total_steps`. With `seconds` progress is the
    wall-clock time since `fit` started (validation included) over `seconds`, so the run ends
    on time on any machine and the schedule always completes. Training stops after the batch
    that spends the budget (`fit` then ends the epoch early, and epoch callbacks such as
    `CSVLogger` still record it). The learning rate of the epoch's last batch is added to the
    epoch logs as `learning_rate`.

    Args:
        peak_learning_rate: The largest learning rate (reached after the warm-up).
        total_steps: Budget in optimizer steps.
        seconds: Budget in seconds.
        warmup_fraction: Fraction of the budget spent warming up.
        final_fraction: Learning rate at the end as a fraction of the peak; with 1 and no
            warm-up the rate is constant (the tutorial's schedule) and only the budget applies.
        clock: Time source in seconds (`time.perf_counter`; replaceable for tests).
        verbose: Print after every epoch how much of the budget is spent.

    Raises:
        ValueError: Unless exactly one positive budget is given, or for a `warmup_fraction`
            outside `[0, 1)` or a `final_fraction` outside `[0, 1]`.
    """

    def __init__(
        self,
        peak_learning_rate: float,
        total_steps: int | None = None,
        seconds: float | None = None,
        warmup_fraction: float = 0.03,
        final_fraction: float = 0.01,
        clock: Callable[[], float] = time.perf_counter,
        verbose: bool = False,
    ) -> None:
        super().__init__()
        if (total_steps is None) == (seconds is None):
            raise ValueError(
                f"Give exactly one of `total_steps` and `seconds`, got {total_steps!r} and "
                f"{seconds!r}."
            )
        budget = total_steps if total_steps is not None else seconds
        if not budget > 0:
            raise ValueError(f"The budget must be positive, got {budget!r}.")
        if not 0.0 <= warmup_fraction < 1.0:
            raise ValueError(f"`warmup_fraction` must lie in [0, 1), got {warmup_fraction!r}.")
        if not 0.0 <= final_fraction <= 1.0:
            raise ValueError(f"`final_fraction` must lie in [0, 1], got {final_fraction!r}.")
        self.peak_learning_rate = float(peak_learning_rate)
        self.total_steps = total_steps
        self.seconds = seconds
        self.warmup_fraction = float(warmup_fraction)
        self.final_fraction = float(final_fraction)
        self.clock = clock
        self.verbose = verbose
        self.steps_done = 0
        self.learning_rate = self.peak_learning_rate
        self._start = None

    def progress(self) -> float:
        """Fraction of the budget spent so far (may exceed 1 on the last batch)."""
        if self.total_steps is not None:
            return self.steps_done / self.total_steps
        if self._start is None:
            return 0.0
        return (self.clock() - self._start) / self.seconds

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._start = self.clock()
        self.steps_done = 0

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self.learning_rate = warmup_cosine(
            self.progress(), self.peak_learning_rate, self.warmup_fraction, self.final_fraction
        )
        self.model.optimizer.learning_rate.assign(self.learning_rate)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.steps_done += 1
        if self.progress() >= 1.0:
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = self.learning_rate
        if self.verbose:
            print(self.describe(), flush=True)

    def describe_spent(self) -> str:
        """How much of the budget is spent, e.g. `'12% spent (2.0 of 17.0 min)'`."""
        spent = min(self.progress(), 1.0)
        if self.total_steps is not None:
            amount = f"{self.steps_done} of {self.total_steps} steps"
        else:
            amount = f"{spent * self.seconds / 60:.1f} of {self.seconds / 60:.1f} min"
        return f"{spent:.0%} spent ({amount})"

    def describe(self) -> str:
        """One line: the budget spent so far and the current learning rate."""
        return f"budget: {self.describe_spent()}, learning rate {self.learning_rate:.2e}"


class BudgetProgbarLogger(keras.callbacks.ProgbarLogger):
    """Keras' progress output for a `fit` that a `TrainingBudget` ends.

    A time budget gives `fit` an open-ended epoch count, so Keras' own epoch header would read
    `Epoch 3/1000000`. This logger prints `Epoch 3: 12% spent (2.0 of 17.0
    min)` instead and keeps Keras' progress bar (`verbose=1`) or epoch line (`verbose=2`).
    Pass it in `fit`'s callbacks; Keras then adds no progress logger of its own.

    Args:
        budget: The budget callback of the same `fit`.
    """

    def __init__(self, budget: TrainingBudget) -> None:
        super().__init__()
        self.budget = budget

    def set_params(self, params: dict) -> None:
        super().set_params(params)
        self.epochs = 1  # Keras prints its "Epoch k/epochs" header only for several epochs

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_begin(epoch, logs)
        if self.verbose:
            print(f"Epoch {epoch + 1}: {self.budget.describe_spent()}", flush=True)
