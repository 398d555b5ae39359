"""Sending large batch arrays from worker processes through shared memory.

A Keras worker process returns its batch to the main process by pickling it through a pipe, which
costs far more than building the batch when the batch holds tens of megabytes (an SSD7 batch of
16 encoded label tensors is 27 MB). `shareable` views an array as `SharedMemoryArray`, an ndarray
that pickles itself by copying its data into a POSIX shared memory block and sending only the
block's name; unpickling copies the data out and frees the block. Everywhere else the array
behaves like any ndarray, and unpickling always gives a plain ndarray.
"""

from __future__ import annotations

from multiprocessing import resource_tracker, shared_memory
from typing import Any

import numpy as np

#: Arrays smaller than this (bytes) are pickled the ordinary way.
MIN_SHARED_BYTES = 1 << 20


class SharedMemoryArray(np.ndarray):
    """An ndarray that travels through shared memory when pickled (see the module docstring)."""

    def __reduce_ex__(self, protocol: int) -> tuple:
        block = shared_memory.SharedMemory(create=True, size=max(1, self.nbytes))
        # The receiving process frees the block; stop this process's tracker from freeing it too.
        resource_tracker.unregister(block._name, "shared_memory")
        view = np.ndarray(self.shape, self.dtype, buffer=block.buf)
        view[...] = self
        del view
        block.close()
        return _from_shared_memory, (block.name, self.shape, self.dtype.str)

    def __reduce__(self) -> tuple:
        return self.__reduce_ex__(2)


def _from_shared_memory(name: str, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    block = shared_memory.SharedMemory(name=name)
    try:
        view = np.ndarray(shape, np.dtype(dtype), buffer=block.buf)
        array = view.copy()
        del view
    finally:
        block.close()
        block.unlink()
    return array


def shareable(value: Any) -> Any:
    """`value` with every large ndarray (at the top level or in a top-level tuple) viewed as a
    `SharedMemoryArray`; other values are returned unchanged."""
    if isinstance(value, tuple):
        return tuple(shareable(item) for item in value)
    if isinstance(value, np.ndarray) and value.nbytes >= MIN_SHARED_BYTES:
        return np.ascontiguousarray(value).view(SharedMemoryArray)
    return value
