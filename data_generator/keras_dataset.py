"""A Keras 3 `PyDataset` over a `DataGenerator` (made by `DataGenerator.as_dataset`).

Batches are a pure function of `(seed, epoch, batch index)`:

- the order of epoch `e` is `RandomState([seed, e]).permutation(N)` (or `arange(N)` without
  shuffling), computed in the main process and shared with the workers, so every image appears
  exactly once per epoch whatever the number of workers;
- before the transformations of batch `b` run, the global `np.random` and `random` generators
  (which the augmentation operations draw from) are seeded from `(seed, epoch, b)` and restored
  afterwards. With thread workers this stage holds a lock, because those generators are shared
  by all threads; process workers run it in parallel.

With `repeat=True` the dataset is endless (Keras sees `num_batches = None`): batch `i` is batch
`i % n` of epoch `i // n`, exactly the batch the finite dataset would give in that epoch. That is
what `fit(..., steps_per_epoch=k)` needs when `k` does not divide one pass over the images, or
when training is stopped by a budget rather than by a number of passes.

Image decoding, stacking and label encoding run outside that lock. Worker processes return
large arrays through shared memory (`data_generator.shared_arrays`).
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import random
import threading
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np

from data_generator.batching import BatchAssembler, SampleSource
from data_generator.shared_arrays import shareable

_SEED_LIMIT = 2**31  # seeds drawn when none is given lie in [0, _SEED_LIMIT)


class DetectionDataset(keras.utils.PyDataset):
    """Batches of a `DataGenerator` for `model.fit`, `evaluate` and `predict`.

    Create it with `DataGenerator.as_dataset(...)`.

    Args:
        source: Snapshot of the dataset's samples.
        assembler: Builds one batch (transformations, filtering, encoding, outputs).
        batch_size: Items per batch; the last batch of an epoch may be smaller.
        shuffle: Draw a new order every epoch.
        seed: Non-negative int seed, or `None` to draw one from the global `np.random`.
        workers: Number of Keras workers.
        use_multiprocessing: Use processes instead of threads for the workers.
        max_queue_size: Batches prepared ahead.
        repeat: Endless: item `i` is batch `i % len(self)` of epoch `i // len(self)`.

    Each item is the tuple of the requested outputs in `generate`'s order (a single array when
    only one output is requested), e.g. `(images (B, H, W, C) uint8, encoded labels)`.
    """

    def __init__(
        self,
        source: SampleSource,
        assembler: BatchAssembler,
        batch_size: int,
        shuffle: bool = True,
        seed: int | None = None,
        workers: int = 1,
        use_multiprocessing: bool = False,
        max_queue_size: int = 10,
        repeat: bool = False,
    ) -> None:
        super().__init__(
            workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size
        )
        if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"`seed` must be None or a non-negative int, got {seed!r}.")
        self.source = source
        self.assembler = assembler
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = seed
        self.base_seed = int(seed) if seed is not None else int(np.random.randint(_SEED_LIMIT))  # noqa: NPY002
        self.repeat = bool(repeat)
        self.epoch = 0
        self._order = self._epoch_order(0)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Batches in one pass over the images (also when repeating)."""
        return math.ceil(len(self.source) / self.batch_size)

    @property
    def num_batches(self) -> int | None:
        """Batches Keras may request: `len(self)`, or None (endless) when repeating."""
        return None if self.repeat else len(self)

    def __getitem__(self, index: int) -> Any:
        if self.repeat and index >= 0:
            epoch, index = divmod(index, len(self))
            order = self._order if epoch == self.epoch else self._epoch_order(epoch)
        elif 0 <= index < len(self):
            epoch, order = self.epoch, self._order
        else:
            raise IndexError(f"batch index {index} out of range for {len(self)} batches")
        positions = order[index * self.batch_size : (index + 1) * self.batch_size]
        raw = self.source.fetch(positions)
        outputs = self.assembler.assemble(raw, lambda: self._seeded(epoch, index))
        batch = outputs[0] if len(outputs) == 1 else tuple(outputs)
        if multiprocessing.parent_process() is not None:
            batch = shareable(batch)  # a worker process: send large arrays via shared memory
        return batch

    def __iter__(self) -> Iterator[Any]:
        """The batches of the current epoch (one pass, also when repeating)."""
        for index in range(len(self)):
            yield self[self.epoch * len(self) + index if self.repeat else index]

    def on_epoch_end(self) -> None:
        """Moves to the next epoch (and its new order when shuffling)."""
        self.set_epoch(self.epoch + 1)

    def set_epoch(self, epoch: int) -> None:
        """Sets the epoch whose batches `__getitem__` returns (e.g. to resume a run)."""
        self.epoch = int(epoch)
        self._order = self._epoch_order(self.epoch)

    def positions(self, index: int) -> np.ndarray:
        """Dataset positions of batch `index` in the current epoch."""
        return self._order[index * self.batch_size : (index + 1) * self.batch_size].copy()

    def _epoch_order(self, epoch: int) -> np.ndarray:
        size = len(self.source)
        if not self.shuffle:
            return np.arange(size)
        return np.random.RandomState([self.base_seed, epoch]).permutation(size)

    @contextlib.contextmanager
    def _seeded(self, epoch: int, index: int) -> Iterator[None]:
        """Runs the block with `np.random` and `random` seeded from (seed, epoch, index)."""
        if self.seed is None and multiprocessing.parent_process() is None:
            yield  # no reproducibility requested and the global generators are this process's
            return
        with self._lock:
            # The augmentation ops draw from the legacy global generator (as the original did).
            numpy_state, python_state = np.random.get_state(), random.getstate()  # noqa: NPY002
            np.random.seed([self.base_seed, epoch, index, 0])  # noqa: NPY002
            random.seed(f"{self.base_seed}-{epoch}-{index}")
            try:
                yield
            finally:
                np.random.set_state(numpy_state)  # noqa: NPY002
                random.setstate(python_state)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
