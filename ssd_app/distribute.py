"""Training on several devices or machines: the `train --distribute` routes, also from Python.

Four routes, each run by the backend's own engine:

* `'none'`: one device (the backend's default).
* `'mirrored'`: `tf.distribute.MirroredStrategy` over the local GPUs, or over the logical CPU
  devices when there is no GPU (TensorFlow backend).
* `'multi_worker'`: `tf.distribute.MultiWorkerMirroredStrategy`, configured by the `TF_CONFIG`
  environment variable of every worker (TensorFlow backend).
* `'data_parallel'`: `keras.distribution.DataParallel` over all devices (JAX backend); across
  processes when `KERAS_DISTRIBUTION_JOB_ADDRESSES` (with `KERAS_DISTRIBUTION_NUM_PROCESSES`
  and `KERAS_DISTRIBUTION_PROCESS_ID`) or `JAX_COORDINATOR_ADDRESS` (with `JAX_NUM_PROCESSES`
  and `JAX_PROCESS_ID`) is set, `jax.distributed.initialize` is called first.

`cpu_devices=N` splits the CPU into `N` logical devices (TensorFlow: logical device
configuration; JAX: `XLA_FLAGS=--xla_force_host_platform_device_count=N`), so that every route
runs on a machine without accelerators. The batch size is always the global batch: every
replica gets `global / replicas` images.

`setup_distribution` must be called before the backend runs its first operation; in a script
build and compile the model inside `DistributedSetup.scope()`. `ssd_app.training.train` runs
the whole `ssd-keras train` command from Python. See docs/distributed.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

ROUTES = ("none", "mirrored", "multi_worker", "data_parallel")
"""The values of `train --distribute`."""

ROUTE_BACKENDS = {"mirrored": "tensorflow", "multi_worker": "tensorflow", "data_parallel": "jax"}
"""The Keras backend each route other than `'none'` needs."""

SUMMARY_NAME = "train_summary.json"
_FORCE_DEVICES_FLAG = "--xla_force_host_platform_device_count"


class DistributeError(ValueError):
    """A distribution setting that cannot work: the message says which and what to change."""


@dataclass
class DistributedSetup:
    """The devices a training run uses and the engine object that spreads it over them.

    Attributes:
        route: One of `ROUTES`.
        backend: The Keras backend (`'tensorflow'`, `'jax'` or `'torch'`).
        devices: Names of the devices holding a replica (all processes).
        num_replicas: Number of model replicas that each take a slice of the global batch.
        is_chief: Whether this process writes checkpoints, model files and the summary
            (the multi-worker chief, JAX process 0, or the only process).
        task: `(type, index)` of this process (`('worker', 0)` outside multi-worker runs).
        strategy: The `tf.distribute.Strategy` (None for `'none'` and `'data_parallel'`).
        distribution: The `keras.distribution.Distribution` (`'data_parallel'` only).
        process_index: Index of this process among `process_count` (JAX routes).
        process_count: Number of processes taking part.
    """

    route: str
    backend: str
    devices: list[str]
    num_replicas: int
    is_chief: bool = True
    task: tuple[str, int] = ("worker", 0)
    strategy: Any = None
    distribution: Any = None
    process_index: int = 0
    process_count: int = 1
    _temporary_dirs: list[str] = field(default_factory=list, repr=False)

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Context in which models, optimizers and `compile` must be created."""
        if self.strategy is not None:
            with self.strategy.scope():
                yield
        elif self.distribution is not None:
            with self.distribution.scope():
                yield
        else:
            yield

    def per_replica_batch_size(self, global_batch_size: int) -> int:
        """`global_batch_size / num_replicas`.

        Raises:
            DistributeError: If the global batch does not split evenly over the replicas.
        """
        if global_batch_size % self.num_replicas:
            raise DistributeError(
                f"--batch-size {global_batch_size} is the global batch and must be a multiple "
                f"of the {self.num_replicas} replicas of --distribute {self.route}"
            )
        return global_batch_size // self.num_replicas

    def write_dir(self, output_dir: str) -> str:
        """Where this process writes its files: `output_dir` for the chief, else a new temporary
        folder that `cleanup` removes (every multi-worker process saves, as `tf.distribute`
        wants, but only the chief's files are kept)."""
        if self.is_chief:
            return output_dir
        path = tempfile.mkdtemp(prefix=f"ssd-keras-{self.task[0]}{self.task[1]}-")
        self._temporary_dirs.append(path)
        return path

    def cleanup(self) -> None:
        """Removes the temporary folders `write_dir` made."""
        while self._temporary_dirs:
            shutil.rmtree(self._temporary_dirs.pop(), ignore_errors=True)


def planned_backend() -> str:
    """The Keras backend that importing Keras will select, read without importing it."""
    import sys

    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    name = os.environ.get("KERAS_BACKEND")
    if name:
        return name
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as file:
            return str(json.load(file).get("backend", "tensorflow"))
    except (OSError, ValueError):
        return "tensorflow"


def parse_tf_config(text: str | None) -> tuple[dict, tuple[str, int]]:
    """The cluster and this task of a `TF_CONFIG` value.

    Args:
        text: The JSON value, e.g. `'{"cluster": {"worker": ["host1:2222", "host2:2222"]},
            "task": {"type": "worker", "index": 0}}'`.

    Returns:
        `(cluster, (task_type, task_index))`.

    Raises:
        DistributeError: If `text` is None, not JSON, or lacks a cluster with this task.
    """
    hint = (
        'set it to e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, '
        '"task": {"type": "worker", "index": 0}}'
    )
    if not text:
        raise DistributeError(f"--distribute multi_worker needs the TF_CONFIG variable; {hint}")
    try:
        config = json.loads(text)
    except ValueError as error:
        raise DistributeError(f"TF_CONFIG is not valid JSON ({error}); {hint}") from error
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not cluster or not isinstance(task, dict):
        raise DistributeError(f"TF_CONFIG needs a 'cluster' and a 'task' entry; {hint}")
    task_type, index = task.get("type"), task.get("index")
    members = cluster.get(task_type)
    if (
        not isinstance(members, list)
        or isinstance(index, bool)
        or not isinstance(index, int)
        or not 0 <= index < len(members)
    ):
        raise DistributeError(
            f"TF_CONFIG task {task!r} is not a member of its cluster {cluster!r}; {hint}"
        )
    return cluster, (task_type, index)


def check_backend(route: str) -> str:
    """The Keras backend that will run, if `route` can run on it.

    Raises:
        DistributeError: If `route` needs another backend (the message says which to set).
    """
    backend = planned_backend()
    needed = ROUTE_BACKENDS.get(route)
    if needed is not None and backend != needed:
        raise DistributeError(
            f"--distribute {route} runs on the {needed} backend, but the Keras backend is "
            f"{backend}: set KERAS_BACKEND={needed}"
        )
    return backend


def planned_process_count(route: str) -> int:
    """Number of processes the environment describes for `route` (read before any start-up).

    `multi_worker`: the `chief` and `worker` tasks of `TF_CONFIG` (raises `DistributeError`
    if it is missing or invalid); `data_parallel`: `KERAS_DISTRIBUTION_NUM_PROCESSES` or
    `JAX_NUM_PROCESSES` when set; else 1.
    """
    if route == "multi_worker":
        cluster, _ = parse_tf_config(os.environ.get("TF_CONFIG"))
        return sum(len(cluster.get(name, [])) for name in ("chief", "worker"))
    if route == "data_parallel":
        for name in ("KERAS_DISTRIBUTION_NUM_PROCESSES", "JAX_NUM_PROCESSES"):
            value = os.environ.get(name, "")
            if value.isdigit():
                return int(value)
    return 1


def planned_chief(route: str) -> bool:
    """Whether this process will be the chief of `route` (read from the environment only):
    the `chief` task of `TF_CONFIG` (else worker 0) for `multi_worker`, process 0 for
    `data_parallel`, always for a single process."""
    if route == "multi_worker":
        return _is_multi_worker_chief(*parse_tf_config(os.environ.get("TF_CONFIG")))
    if route == "data_parallel":
        for name in ("KERAS_DISTRIBUTION_PROCESS_ID", "JAX_PROCESS_ID"):
            value = os.environ.get(name, "")
            if value.isdigit():
                return int(value) == 0
    return True


def _is_multi_worker_chief(cluster: dict, task: tuple[str, int]) -> bool:
    if "chief" in cluster:
        return task[0] == "chief"
    return task == ("worker", 0)


def _set_xla_cpu_devices(count: int) -> None:
    """Puts `--xla_force_host_platform_device_count=count` into `XLA_FLAGS`."""
    flags = [
        flag
        for flag in os.environ.get("XLA_FLAGS", "").split()
        if not flag.startswith(_FORCE_DEVICES_FLAG)
    ]
    os.environ["XLA_FLAGS"] = " ".join([*flags, f"{_FORCE_DEVICES_FLAG}={count}"])


def _tf_cpu_devices(tf: Any, count: int) -> None:
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
        )
    except RuntimeError as error:  # TensorFlow already ran an operation
        if len(tf.config.list_logical_devices("CPU")) != count:
            raise DistributeError(
                f"--cpu-devices {count}: TensorFlow is already initialised ({error}); "
                "call setup_distribution before anything else runs"
            ) from error


def _jax_multi_process(keras: Any) -> None:
    """Starts `jax.distributed` when the environment describes several processes."""
    import jax

    if os.environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES"):
        keras.distribution.initialize()
    elif os.environ.get("JAX_COORDINATOR_ADDRESS"):
        try:
            count = int(os.environ["JAX_NUM_PROCESSES"])
            index = int(os.environ["JAX_PROCESS_ID"])
        except (KeyError, ValueError) as error:
            raise DistributeError(
                "JAX_COORDINATOR_ADDRESS is set, so JAX_NUM_PROCESSES and JAX_PROCESS_ID must "
                "be integers too"
            ) from error
        jax.distributed.initialize(
            os.environ["JAX_COORDINATOR_ADDRESS"], num_processes=count, process_id=index
        )


def setup_distribution(route: str = "none", cpu_devices: int | None = None) -> DistributedSetup:
    """Configures the backend for a distribution route and returns the devices and engine.

    Call it once per process, before the backend runs any operation (it imports Keras).

    Args:
        route: One of `ROUTES`.
        cpu_devices: Split the CPU into this many logical devices (TensorFlow and JAX); None
            keeps the backend's default.

    Returns:
        The `DistributedSetup`; for `'data_parallel'` the distribution is also made global
        with `keras.distribution.set_distribution`.

    Raises:
        DistributeError: For an unknown route, a route whose backend is not the current one,
            `cpu_devices` < 1 or on PyTorch, a missing or invalid `TF_CONFIG`, or a backend
            already initialised with another device count.
    """
    if route not in ROUTES:
        raise DistributeError(f"--distribute must be one of {', '.join(ROUTES)}, got {route!r}")
    if cpu_devices is not None and (isinstance(cpu_devices, bool) or cpu_devices < 1):
        raise DistributeError(f"--cpu-devices must be a positive integer, got {cpu_devices!r}")
    backend = check_backend(route)
    if cpu_devices is not None and backend not in ("tensorflow", "jax"):
        raise DistributeError(
            f"--cpu-devices is supported on the tensorflow and jax backends, not {backend}: "
            "leave it out, or set KERAS_BACKEND=tensorflow or jax"
        )
    cluster, task = None, ("worker", 0)
    if route == "multi_worker":
        cluster, task = parse_tf_config(os.environ.get("TF_CONFIG"))
    if backend == "jax" and cpu_devices is not None:
        _set_xla_cpu_devices(cpu_devices)  # read when JAX starts its CPU backend

    from ssd_app._cli_setup import import_keras

    keras = import_keras()
    if backend == "tensorflow":
        import tensorflow as tf

        if cpu_devices is not None:
            _tf_cpu_devices(tf, cpu_devices)
        return _tensorflow_setup(tf, route, cluster, task)
    if backend == "jax":
        return _jax_setup(keras, route, cpu_devices)
    return DistributedSetup(route, backend, [_default_device(backend)], 1)


def _default_device(backend: str) -> str:
    if backend == "torch":
        import torch

        return "cuda:0" if torch.cuda.is_available() else "cpu"
    return "default"


def _tensorflow_setup(
    tf: Any, route: str, cluster: dict | None, task: tuple[str, int]
) -> DistributedSetup:
    if route == "multi_worker":  # before anything starts the TensorFlow runtime
        return _multi_worker_setup(tf, cluster, task)
    gpus = tf.config.list_logical_devices("GPU")
    local = [device.name for device in gpus or tf.config.list_logical_devices("CPU")]
    if route == "none":
        return DistributedSetup(route, "tensorflow", local[:1], 1)
    if route == "mirrored":
        strategy = tf.distribute.MirroredStrategy(devices=local)
        return DistributedSetup(
            route, "tensorflow", list(strategy.extended.worker_devices),
            strategy.num_replicas_in_sync, strategy=strategy,
        )  # fmt: skip
    raise AssertionError(route)


def _multi_worker_strategy(tf: Any) -> Any:
    """A `tf.distribute.MultiWorkerMirroredStrategy` whose `reduce` also takes nested values.

    Keras' `fit` reduces the first `(images, labels)` batch with `strategy.reduce` to learn the
    input shapes; `MultiWorkerMirroredStrategy.reduce` only takes single values when each worker
    holds one replica (TensorFlow 2.21, Keras 3.15), and its collectives refuse `uint8` images.
    Keras also reduces the scalar metrics of every step with `axis=0`, which fails on scalars.
    Here nests are reduced leaf by leaf, a leaf of a type the collectives lack is reduced in
    `float32` and cast back, and scalars are reduced across the replicas (`axis=None`).
    """
    reducible = (tf.bfloat16, tf.float16, tf.float32, tf.float64, tf.int32, tf.int64)

    class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        def reduce(self, reduce_op: Any, value: Any, axis: Any = None) -> Any:
            if isinstance(value, (tuple, list, dict)):
                return tf.nest.map_structure(lambda leaf: self.reduce(reduce_op, leaf, axis), value)
            first = self.experimental_local_results(value)[0]
            if axis is not None and len(getattr(first, "shape", ())) == 0:
                axis = None  # a scalar per replica (a metric): reduce across the replicas
            dtype = getattr(first, "dtype", None)
            if dtype is None or dtype in reducible:
                return super().reduce(reduce_op, value, axis)
            as_float = self.run(lambda part: tf.cast(part, tf.float32), args=(value,))
            return tf.cast(super().reduce(reduce_op, as_float, axis), dtype)

    return MultiWorkerMirroredStrategy()


def _multi_worker_setup(tf: Any, cluster: dict, task: tuple[str, int]) -> DistributedSetup:
    strategy = _multi_worker_strategy(tf)
    gpus = tf.config.list_physical_devices("GPU")
    n_workers = sum(len(members) for name, members in cluster.items() if name != "ps")
    per_worker = len(strategy.extended.worker_devices)
    devices = [
        f"/job:{name}/replica:0/task:{index}/device:{'GPU' if gpus else 'CPU'}:{device}"
        for name, members in cluster.items()
        if name in ("chief", "worker")
        for index in range(len(members))
        for device in range(per_worker)
    ]
    return DistributedSetup(
        "multi_worker",
        "tensorflow",
        devices,
        strategy.num_replicas_in_sync,
        is_chief=_is_multi_worker_chief(cluster, task),
        task=task,
        strategy=strategy,
        process_count=n_workers,
    )


def _jax_setup(keras: Any, route: str, cpu_devices: int | None) -> DistributedSetup:
    import jax

    if route == "data_parallel":
        _jax_multi_process(keras)
    if cpu_devices is not None and jax.local_device_count("cpu") != cpu_devices:
        raise DistributeError(
            f"--cpu-devices {cpu_devices}: JAX already started with "
            f"{jax.local_device_count('cpu')} CPU devices; call setup_distribution before "
            "anything runs on JAX"
        )
    devices = jax.devices()
    if route == "none":
        return DistributedSetup(route, "jax", [str(devices[0])], 1)
    # `process_shard` gives every process its part of each batch
    distribution = keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
    keras.distribution.set_distribution(distribution)
    return DistributedSetup(
        route,
        "jax",
        [str(device) for device in devices],
        len(devices),
        is_chief=jax.process_index() == 0,
        distribution=distribution,
        process_index=jax.process_index(),
        process_count=jax.process_count(),
    )


def process_shard(data: Any, dist: DistributedSetup) -> Any:
    """A `keras.utils.PyDataset` giving this process its slice of every batch of `data`.

    `keras.distribution.DataParallel` wants from each process a batch that splits evenly over
    its devices. Every process reads the same global batch (same order and augmentation, from
    the same seed); a batch of `b` images is cut to the largest multiple of the device count
    (a batch smaller than the device count is repeated cyclically up to it) and process `p` of
    `P` keeps the `p`-th of `P` equal parts.

    Args:
        data: A `keras.utils.PyDataset` of `(images, encoded labels)` global batches.
        dist: The `'data_parallel'` setup.

    Returns:
        The wrapping `PyDataset` (same length, epochs and workers as `data`).
    """
    import keras
    import numpy as np

    n_devices, n_processes, index = dist.num_replicas, dist.process_count, dist.process_index

    class ProcessShard(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__(
                workers=data.workers,
                use_multiprocessing=data.use_multiprocessing,
                max_queue_size=data.max_queue_size,
            )

        def __len__(self) -> int:
            return len(data)

        @property
        def num_batches(self) -> int | None:
            return data.num_batches

        def __getitem__(self, item: int) -> Any:
            batch = data[item]
            arrays = batch if isinstance(batch, tuple) else (batch,)
            size = len(arrays[0])
            if size < n_devices:
                picks = np.resize(np.arange(size), n_devices)
            else:
                picks = np.arange(size - size % n_devices)
            local = len(picks) // n_processes
            picks = picks[index * local : (index + 1) * local]
            parts = tuple(np.asarray(array)[picks] for array in arrays)
            return parts if isinstance(batch, tuple) else parts[0]

        def on_epoch_end(self) -> None:
            data.on_epoch_end()

    return ProcessShard()


def write_summary(path: str, summary: dict) -> None:
    """Writes `summary` as indented JSON to `path`, atomically."""
    from misc_utils.atomic_write import atomic_path

    with atomic_path(path) as temporary, open(temporary, "w", encoding="utf-8") as file:
        json.dump(summary, file, indent=2)
        file.write("\n")
