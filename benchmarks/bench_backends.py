"""Benchmark: SSD7 and SSD300 training and inference speed on TensorFlow, JAX and PyTorch.

One run measures every backend, each in its own subprocess with `KERAS_BACKEND` set (Keras picks
its backend once per process). Per backend and model, on random images and random weights:

* training: `model.fit` with `Adam(1e-3)` and `SSDLoss()` on encoded random boxes, images/s over
  `--steps` batches after one warm-up `fit` (which compiles the step);
* inference: the `'inference'`-mode model (in-graph `DecodeDetections`, confidence 0.5) called
  through `predict_on_batch`, frames/s at batch 1 and 8, medians of `--repeat` calls after a
  warm-up call. The random heads are given a trained detector's score statistics
  (`bench_models.trained_like_class_heads`), so decoding does realistic work.

Each backend runs with the compile setting given by `--jit` (`backend=setting` pairs; `on` means
XLA on TensorFlow and JAX and `torch.compile` on PyTorch; `off` means TensorFlow graphs without
XLA, eager PyTorch; JAX always needs `on`). The defaults are the fastest settings found on the
development machine (see benchmarks/README.md). The table gives each rate and its ratio to
TensorFlow's. Models use SSD7 at 300x480 with 5 classes and SSD300 at 300x300 with 20 classes,
as `bench_models.py`; `--quick` shrinks the batch sizes, steps and repeats to a smoke run.

Run from the repository root::

    .venv/bin/python benchmarks/bench_backends.py [--quick] [--backends tensorflow,jax,torch]
        [--models ssd7,ssd300] [--jit tensorflow=off,jax=on,torch=off] [--policy mixed_bfloat16]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("tensorflow", "jax", "torch")
DEFAULT_JIT = {"tensorflow": "off", "jax": "on", "torch": "off"}
# (training batch, timed training steps, inference repeats) per model, normal and --quick.
SIZES = {
    False: {"ssd7": (8, 4, 5), "ssd300": (2, 2, 2)},
    True: {"ssd7": (4, 2, 2), "ssd300": (1, 1, 1)},
}
INFERENCE_BATCHES = (1, 8)
CONFIDENCE = 0.5


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--models", default="ssd7,ssd300")
    parser.add_argument(
        "--jit",
        default="",
        help="comma-separated backend=on|off pairs overriding "
        + ",".join(f"{k}={v}" for k, v in DEFAULT_JIT.items()),
    )
    parser.add_argument("--policy", default="float32", help="Keras dtype policy of the models")
    parser.add_argument("--quick", action="store_true", help="tiny batches and steps: a smoke run")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # the backend, in a subprocess
    args = parser.parse_args(argv)
    jit = dict(DEFAULT_JIT)
    for pair in filter(None, args.jit.split(",")):
        backend, _, setting = pair.partition("=")
        if backend not in BACKENDS or setting not in ("on", "off"):
            parser.error(f"--jit: expected backend=on|off with a backend of {BACKENDS}: {pair!r}")
        jit[backend] = setting
    args.jit = jit
    return args


# ------------------------------------------------------------------------------------------------
# The worker: one backend, in its own process.


def _worker(args: argparse.Namespace) -> dict:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(1, str(ROOT / "benchmarks"))
    import keras
    import numpy as np

    # bench_models holds the model settings and weight shaping shared with this script.
    from bench_models import MODELS, random_images, random_targets, trained_like_detector

    from keras_loss_function.keras_ssd_loss import SSDLoss

    assert keras.backend.backend() == args.worker, keras.backend.backend()
    keras.config.set_dtype_policy(args.policy)
    jit = args.jit[args.worker] == "on"
    results = {}
    for name in args.models.split(","):
        builder, kwargs = MODELS[name]
        batch, steps, repeat = SIZES[args.quick][name]
        keras.backend.clear_session()
        keras.utils.set_random_seed(0)
        model = builder(**kwargs)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=SSDLoss(), jit_compile=jit)
        x = random_images(batch * steps, kwargs["image_size"])
        y = random_targets(name, model, batch * steps)
        model.fit(x[:batch], y[:batch], batch_size=batch, epochs=1, verbose=0)  # compiles
        start = time.perf_counter()
        history = model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
        train_rate = batch * steps / (time.perf_counter() - start)
        assert np.isfinite(history.history["loss"][-1])
        results[f"{name} train"] = train_rate

        decoder = trained_like_detector(name, model, CONFIDENCE)
        decoder.compile(jit_compile=jit)
        for n in INFERENCE_BATCHES:
            images = random_images(n, kwargs["image_size"], seed=n)
            decoder.predict_on_batch(images)  # compiles
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                decoder.predict_on_batch(images)
                times.append(time.perf_counter() - start)
            results[f"{name} infer b{n}"] = n / float(np.median(times))
    return results


# ------------------------------------------------------------------------------------------------
# The driver: one subprocess per backend, then the table.


def run_on_backend(script: str, argv: list[str], backend: str) -> tuple[dict | None, float, str]:
    """Runs `script *argv --worker` with `KERAS_BACKEND=backend` in a subprocess.

    Returns:
        `(result, seconds, error)`: the JSON object the worker printed last (None if it printed
        none), the wall time, and otherwise the last line of its output.
    """
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    start = time.perf_counter()
    process = subprocess.run(
        [sys.executable, script, *argv, "--worker", backend],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    for line in reversed(process.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line), seconds, ""
    return None, seconds, (process.stderr or process.stdout).strip().splitlines()[-1:]


def format_table(results: dict, backends: list[str], jit: dict) -> str:
    """Markdown table: one row per measurement, rate and ratio to TensorFlow per backend."""
    rows = []
    for backends_result in results.values():
        for key in backends_result or {}:
            if key not in rows:
                rows.append(key)
    header = ["measurement (images/s)"]
    for backend in backends:
        header.append(f"{backend} (jit {jit[backend]})")
        if backend != "tensorflow":
            header.append(f"{backend} / tf")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    reference = results.get("tensorflow") or {}
    for key in rows:
        cells = [key]
        for backend in backends:
            value = (results.get(backend) or {}).get(key)
            cells.append("failed" if value is None else f"{value:.2f}")
            if backend != "tensorflow":
                ratio = value / reference[key] if value and reference.get(key) else None
                cells.append("" if ratio is None else f"{ratio:.2f}x")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(args)))
        return 0
    argv = list(sys.argv[1:] if argv is None else argv)
    backends = args.backends.split(",")
    results = {}
    for backend in backends:
        result, seconds, error = run_on_backend(__file__, argv, backend)
        status = "ok" if result is not None else f"failed: {error}"
        print(f"{backend}: {seconds:.0f} s, {status}", flush=True)
        results[backend] = result
    print(f"\npolicy {args.policy}{', --quick' if args.quick else ''}")
    print(format_table(results, backends, args.jit))
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
