"""Benchmark: SSD7 training throughput of the settings the demo (`make demo`) chooses between.

Every variant trains the demo's SSD7 (tutorial configuration, 300x480, 5 classes, Adam +
`SSDLoss`) with `model.fit` on the demo's own input pipeline (`DataGenerator.as_dataset` over
rendered road scenes, `SSDInputEncoder`, no augmentation unless stated) and reports images per
second. The baseline, measured in the same run, is the tutorial's setting with Keras's own
layers: float32, batch 16, `jit_compile` off, `keras.layers.BatchNormalization`. Variants:

* batch normalization: SSD7's own `BatchNormalization`
  (`keras_layers.keras_layer_BatchNormalization`, TensorFlow's fused kernel in training) vs
  Keras's layer; every variant without "Keras batch norm" in its name uses the fused layer;
* precision: `mixed_bfloat16` (bfloat16 compute, float32 weights) vs float32;
* `jit_compile=True` (XLA) vs off;
* batch size 8 and 4 (more optimizer steps for the same images);
* input pipeline: the tutorial's augmentation chain, and the pipeline removed altogether (the
  same batches prepared beforehand and fed from memory) to show what data preparation costs.

Finally it splits the cost of SSD7's first block (conv1, bn1, elu1, pool1 at the full 300x480
resolution) by training that block alone with Keras's batch normalization, with
SSD7's fused layer and without any (float32, batch 16, mean squared error against its own
output), next to the whole model's step.

Each variant runs in a fresh Python process (variants sharing one process slow each other down
through TensorFlow's memory and graph state) and is timed over `--steps` steps after `--warmup`
steps (compilation excluded) inside one `fit` call; the variants run one after another, so run
this on an otherwise idle machine. From the repository root::

    .venv/bin/python benchmarks/bench_demo_training.py [--steps 12] [--warmup 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras

from data_generator.synthetic_traffic import generate_dataset
from keras_layers.keras_layer_BatchNormalization import (
    BatchNormalization as FusedBatchNormalization,
)
from models.presets import SSD7_ROAD_TRAFFIC
from ssd_app import _cli_setup as setup
from ssd_app._cli_train import augmentation_chain, build_model, input_encoder

N_IMAGES = 96
# name -> (precision, batch size, jit_compile, pipeline, batch norm)
VARIANTS = {
    "baseline: float32, batch 16, Keras batch norm": ("float32", 16, False, "plain", "keras"),
    "float32, batch 16": ("float32", 16, False, "plain", "fused"),
    "mixed_bfloat16, batch 16, Keras batch norm": ("mixed_bfloat16", 16, False, "plain", "keras"),
    "mixed_bfloat16, batch 16": ("mixed_bfloat16", 16, False, "plain", "fused"),
    "float32, batch 16, jit_compile": ("float32", 16, True, "plain", "fused"),
    "mixed_bfloat16, batch 16, jit_compile": ("mixed_bfloat16", 16, True, "plain", "fused"),
    "mixed_bfloat16, batch 8": ("mixed_bfloat16", 8, False, "plain", "fused"),
    "mixed_bfloat16, batch 4": ("mixed_bfloat16", 4, False, "plain", "fused"),
    "mixed_bfloat16, batch 8, tutorial augmentation": (
        "mixed_bfloat16", 8, False, "augmented", "fused",
    ),
    "mixed_bfloat16, batch 8, batches from memory": ("mixed_bfloat16", 8, False, "memory", "fused"),
}  # fmt: skip


def _dataset(data: dict, model, batch: int, pipeline: str):
    source = setup.DataSource(
        data_format="csv", images_dir=data["images_dir"], labels=data["labels_train"]
    )
    generator = setup.load_dataset(source, 5)
    preset = SSD7_ROAD_TRAFFIC
    dataset = generator.as_dataset(
        batch_size=batch,
        transformations=[augmentation_chain(preset)] if pipeline == "augmented" else [],
        label_encoder=input_encoder(preset, model),
        returns={"processed_images", "encoded_labels"},
        seed=0,
        repeat=True,
    )
    if pipeline != "memory":
        return dataset
    batches = [dataset[i] for i in range(len(dataset))]
    x = np.concatenate([b[0] for b in batches]).astype("float32")
    y = np.concatenate([b[1] for b in batches]).astype("float32")
    return x, y


def _use_keras_batch_norm() -> None:
    """Makes SSD7 build Keras's own `BatchNormalization` in this (child) process."""
    import models.keras_ssd7

    models.keras_ssd7.BatchNormalization = keras.layers.BatchNormalization


def images_per_second(data: dict, variant: tuple, steps: int, warmup: int) -> float:
    precision, batch, jit, pipeline, batch_norm = variant
    if batch_norm == "keras":
        _use_keras_batch_norm()
    keras.utils.set_random_seed(0)
    keras.mixed_precision.set_global_policy(precision)
    try:
        model = build_model(SSD7_ROAD_TRAFFIC, 5, 1e-3)
        model.compile(optimizer=model.optimizer, loss=model.loss, jit_compile=jit)
        inputs = _dataset(data, model, batch, pipeline)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    clock = _BatchClock()
    if isinstance(inputs, tuple):
        # Enough copies of the prepared batches for every step: `fit` stops early, without an
        # error, when arrays run out before `steps_per_epoch`.
        copies = -(-(warmup + steps) * batch // len(inputs[0]))
        x, y = (np.concatenate([array] * copies) for array in inputs)
        model.fit(
            x, y, batch_size=batch, steps_per_epoch=warmup + steps, epochs=1, verbose=0,
            callbacks=[clock],
        )  # fmt: skip
    else:
        model.fit(
            inputs, steps_per_epoch=warmup + steps, epochs=1, shuffle=False, verbose=0,
            callbacks=[clock],
        )  # fmt: skip
    if len(clock.times) != warmup + steps:
        raise RuntimeError(f"fit ran {len(clock.times)} of {warmup + steps} steps")
    return steps * batch / (clock.times[-1] - clock.times[warmup - 1])


class _BatchClock(keras.callbacks.Callback):
    """Records the time at the end of every training batch.

    Timing batches inside one `fit` call leaves out what a call costs once (building the data
    adapter, reading its first batches for the tensor specs, starting the prefetch thread), which
    would otherwise weigh on a short measurement.
    """

    def __init__(self):
        super().__init__()
        self.times: list[float] = []

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter())


def _train_step_seconds(model, x, y, steps: int, warmup: int) -> float:
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    for _ in range(warmup):
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return (time.perf_counter() - start) / steps


def first_block_breakdown(steps: int, warmup: int) -> dict:
    """Seconds per batch-16 training step of SSD7's first block, by batch normalization."""
    layers = keras.layers
    x = np.random.default_rng(0).uniform(-1, 1, (16, 300, 480, 3)).astype("float32")
    results = {}
    variants = {
        "first block, Keras batch norm": layers.BatchNormalization,
        "first block, fused batch norm": FusedBatchNormalization,
        "first block without batch norm": None,
    }
    for name, batch_norm in variants.items():
        inputs = keras.Input((300, 480, 3))
        h = layers.Conv2D(32, 5, padding="same", kernel_initializer="he_normal")(inputs)
        if batch_norm is not None:
            h = batch_norm(axis=3, momentum=0.99)(h)
        h = layers.MaxPooling2D(2)(layers.ELU()(h))
        model = keras.Model(inputs, h)
        y = model.predict_on_batch(x)
        results[name] = _train_step_seconds(model, x, y, steps, warmup)
    model = build_model(SSD7_ROAD_TRAFFIC, 5, 1e-3)
    y = np.zeros((16, *model.output.shape[1:]), "float32")
    name = "whole SSD7 (fused batch norm, MSE)"
    results[name] = _train_step_seconds(model, x, y, steps, warmup)
    return results


def _run_variant(folder: str, name: str, steps: int, warmup: int) -> float:
    """Runs one variant in a fresh process and returns its images per second."""
    command = [
        sys.executable, __file__, "--one", name, "--data", folder,
        "--steps", str(steps), "--warmup", str(warmup),
    ]  # fmt: skip
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return float(output.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--one", choices=tuple(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.warmup < 1 or args.steps < 1:
        parser.error("--warmup and --steps must be at least 1 (the first step compiles)")
    if args.one is not None:  # a child process: one variant, print its images per second
        data = {"images_dir": args.data, "labels_train": f"{args.data}/labels_train.csv"}
        print(images_per_second(data, VARIANTS[args.one], args.steps, args.warmup))
        return
    with tempfile.TemporaryDirectory() as folder:
        generate_dataset(folder, n_train=N_IMAGES, n_val=0, seed=0, verbose=False)
        results = {}
        for name in VARIANTS:
            results[name] = _run_variant(folder, name, args.steps, args.warmup)
            print(f"{name:<50} {results[name]:6.2f} images/s", flush=True)
    baseline = results["baseline: float32, batch 16, Keras batch norm"]
    print()
    for name, value in results.items():
        print(f"RATIO {name:<50} {value / baseline:5.2f}x the baseline")
    print("\nTraining step, float32, batch 16:")
    for name, seconds in first_block_breakdown(max(args.steps // 2, 2), args.warmup).items():
        print(f"  {name:<40} {seconds * 1000:7.0f} ms")


if __name__ == "__main__":
    main()
