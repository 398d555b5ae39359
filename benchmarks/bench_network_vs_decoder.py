"""Where a decoded SSD inference spends its time: the network or the decoding layer.

Builds the SSD7 or SSD300 of `bench_models.py` in `'inference'` mode (random weights given a
trained detector's score statistics, so decoding does realistic work), splits it at the input of
its `DecodeDetections` layer and times one eager call of the network part and one of the
decoding layer on a batch of random images (medians of `--repeat` calls after a warm-up call),
on each backend of `--backends` in its own subprocess, then prints each time and its ratio to
TensorFlow's (above 1 is slower than TensorFlow).

Usage:
    .venv/bin/python benchmarks/bench_network_vs_decoder.py [--model ssd7] [--batch 8]
        [--repeat 3] [--backends tensorflow,jax,torch]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "benchmarks"))


def _median_seconds(call, repeat: int) -> float:
    call()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _measure(args: argparse.Namespace) -> dict:
    import keras
    from bench_models import MODELS, random_images, tame_box_heads, trained_like_class_heads

    builder, kwargs = MODELS[args.model]
    keras.utils.set_random_seed(0)
    model = builder(**kwargs)
    tame_box_heads(model)
    trained_like_class_heads(
        model, random_images(8, kwargs["image_size"], seed=99), kwargs["n_classes"]
    )
    detector = builder(**kwargs, mode="inference", confidence_thresh=args.confidence)
    detector.set_weights(model.get_weights())
    decoder = detector.layers[-1]
    network = keras.Model(detector.inputs, decoder.input)
    images = random_images(args.batch, kwargs["image_size"], seed=args.batch)
    raw = network(images, training=False)
    return {
        "network": _median_seconds(lambda: network(images, training=False), args.repeat),
        "decoder": _median_seconds(lambda: decoder(raw), args.repeat),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("ssd7", "ssd300"), default="ssd7")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--confidence", type=float, default=0.5)
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_measure(args)))
        return 0
    unknown = set(args.backends.split(",")) - {"tensorflow", "jax", "torch"}
    if unknown:
        parser.error(f"--backends: not a Keras backend: {', '.join(sorted(unknown))}")
    argv = list(sys.argv[1:] if argv is None else argv)
    results = {}
    for backend in args.backends.split(","):
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
        process = subprocess.run(
            [sys.executable, __file__, *argv, "--worker"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        lines = [line for line in process.stdout.splitlines() if line.startswith("{")]
        if not lines:
            print(f"{backend}: failed: {(process.stderr or process.stdout).strip()[-300:]}")
            return 1
        results[backend] = json.loads(lines[-1])
    reference = results.get("tensorflow")
    print(f"{args.model}, batch {args.batch}, eager calls, medians of {args.repeat}")
    print("| backend | network (s) | vs TF | DecodeDetections (s) | vs TF |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for backend, times in results.items():
        cells = [backend]
        for part in ("network", "decoder"):
            cells.append(f"{times[part]:.3f}")
            cells.append(f"{times[part] / reference[part]:.2f}x" if reference else "")
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
