"""Sending large batch arrays from worker processes through shared memory.

A Keras worker process returns its batch to the main process by pickling it through a pipe, which
costs far more than building the batch when the batch holds tens of megabytes (an SSD7 batch of
16 encoded label tensors is 27 MB). `shareable` views an array as `SharedMemoryArray`, an ndarray
that pickles itself by copying its data into a POSIX shared memory block and sending only the
block's name; unpickling frees the block. Everywhere else the array behaves like any ndarray, and
unpickling always gives a plain ndarray.

On Linux, where the blocks are files of `/dev/shm`, the sender writes the block with one `write`
call (faster than filling a fresh mapping page by page) and the receiver maps it as the new
array's memory and unlinks its name at once (no copy; the memory is freed with the array).
Elsewhere `multiprocessing.shared_memory` is used and the receiver copies the data out.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import secrets
from multiprocessing import resource_tracker, shared_memory
from typing import Any

import numpy as np

#: Arrays smaller than this (bytes) are pickled the ordinary way.
MIN_SHARED_BYTES = 1 << 20
_SHM_DIR = "/dev/shm"
_NAME_PREFIX = "ssd_batch_"
_NAME_ATTEMPTS = 8


class SharedMemoryArray(np.ndarray):
    """An ndarray that travels through shared memory when pickled (see the module docstring)."""

    def __reduce_ex__(self, protocol: int) -> tuple:
        if os.path.isdir(_SHM_DIR) or not self.nbytes:
            name = _write_shm_file(self) if self.nbytes else None
            if name is None:  # nothing to share, or /dev/shm is full: an ordinary pickle
                return np.asarray(self).__reduce_ex__(protocol)
            return _from_shared_memory, (name, self.shape, self.dtype.str)
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


def _write_shm_file(array: np.ndarray) -> str | None:
    """Writes `array`'s bytes to a new block, a file of `/dev/shm`, with one `write` call (about
    twice as fast as filling a fresh mapping page by page). Returns the block's name, or `None`
    if it cannot be written (e.g. `/dev/shm` is full: a clean error here, where a full mapping
    would crash the process)."""
    data = memoryview(np.ascontiguousarray(array)).cast("B")
    for _ in range(_NAME_ATTEMPTS):
        name = f"{_NAME_PREFIX}{secrets.token_hex(8)}"
        try:
            with open(os.path.join(_SHM_DIR, name), "xb", buffering=0) as file:
                written = file.write(data)
                while written < len(data):
                    written += file.write(data[written:])
            return name
        except FileExistsError:
            continue
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(_SHM_DIR, name))
            return None
    return None


def _from_shared_memory(name: str, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    mapped = _map_and_unlink(name, shape, np.dtype(dtype))
    if mapped is not None:
        return mapped
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


def _map_and_unlink(name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray | None:
    """Where POSIX shared memory blocks are files of `/dev/shm` (Linux), maps the block as the
    array's own memory and unlinks its name at once: no copy, and the memory is freed when the
    array is garbage collected. Returns `None` elsewhere (the caller copies)."""
    path = os.path.join(_SHM_DIR, name.lstrip("/"))
    nbytes = int(np.prod(shape)) * dtype.itemsize
    if not os.path.isdir(_SHM_DIR) or nbytes == 0:
        return None
    try:
        with open(path, "r+b") as file:
            memory = mmap.mmap(file.fileno(), nbytes)
    except OSError:
        return None
    os.unlink(path)
    return np.frombuffer(memory, dtype=dtype, count=int(np.prod(shape))).reshape(shape)
