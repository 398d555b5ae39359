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
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "benchmarks"))

from bench_backends import BACKENDS, run_on_backend  # noqa: E402


def _measure(args: argparse.Namespace) -> dict:
    import keras
    from bench_models import MODELS, median_time, random_images, trained_like_detector

    builder, kwargs = MODELS[args.model]
    keras.utils.set_random_seed(0)
    detector = trained_like_detector(args.model, builder(**kwargs), args.confidence)
    decoder = detector.layers[-1]
    network = keras.Model(detector.inputs, decoder.input)
    images = random_images(args.batch, kwargs["image_size"], seed=args.batch)
    raw = network(images, training=False)
    return {
        "network": median_time(lambda: network(images, training=False), args.repeat),
        "decoder": median_time(lambda: decoder(raw), args.repeat),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("ssd7", "ssd300"), default="ssd7")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--confidence", type=float, default=0.5)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # the backend, in a subprocess
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_measure(args)))
        return 0
    unknown = set(args.backends.split(",")) - set(BACKENDS)
    if unknown:
        parser.error(f"--backends: not a Keras backend: {', '.join(sorted(unknown))}")
    argv = list(sys.argv[1:] if argv is None else argv)
    results = {}
    for backend in args.backends.split(","):
        result, _seconds, error = run_on_backend(__file__, argv, backend)
        if result is None:
            print(f"{backend}: failed: {error}")
            return 1
        results[backend] = result
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
