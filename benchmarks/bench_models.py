"""Benchmark: SSD7 and SSD300 training and inference speed, in-graph vs numpy decoding.

For each model (SSD7 at 300x480 with 5 classes as in the SSD7 tutorial, SSD300 at 300x300 with
20 classes) and each `jit_compile` setting it measures, on random images and random weights:

* training: `train_on_batch` with `Adam(1e-3)` and `SSDLoss()` on encoded random boxes (images/s);
* raw inference: `predict_on_batch` of the `'training'`-mode model (FPS, batch 1 and 8);
* in-graph decoding: the same weights in an `'inference'` model (`DecodeDetections` layer);
* numpy decoding: raw `predict_on_batch` followed by `decode_detections`.

The baseline is raw inference in the same run: the script prints the extra time that in-graph
decoding adds to raw SSD7 inference at batch 8 (target: at most 10 %). Decoding cost depends on
how many boxes pass `confidence_thresh`; random weights give near-uniform class scores, so with
0.01 every box of every class is a candidate (the worst case) and with 0.5 hardly any is. Both
are reported. The random box-head kernels are scaled down (`tame_box_heads`) so that decoded
boxes stay finite. Timings are medians of `--repeat` calls after one warm-up call; the variants
being compared are called in turn, so that load changes on a shared machine hit them alike.

The model path imports no TensorFlow, so this also runs under `KERAS_BACKEND=jax`. Run from the
repository root::

    .venv/bin/python benchmarks/bench_models.py [--models ssd7,ssd300] [--jit off,on]
        [--repeat 3] [--train-batch N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras

from keras_loss_function.keras_ssd_loss import SSDLoss
from models.keras_ssd7 import build_model
from models.keras_ssd300 import ssd_300
from models.utils import get_predictor_sizes
from ssd_encoder_decoder.output_layout import OBJECT_CLASS_SCORES
from ssd_encoder_decoder.ssd_input_encoder import SSDInputEncoder
from ssd_encoder_decoder.ssd_output_decoder import decode_detections

THRESHOLDS = (0.5, 0.01)
INFERENCE_BATCHES = (1, 8)

SSD7_KWARGS = {
    "image_size": (300, 480, 3), "n_classes": 5, "l2_regularization": 0.0005,
    "scales": [0.08, 0.16, 0.32, 0.64, 0.96], "aspect_ratios_global": [0.5, 1.0, 2.0],
    "variances": [1.0, 1.0, 1.0, 1.0], "normalize_coords": True,
    "subtract_mean": 127.5, "divide_by_stddev": 127.5,
}  # fmt: skip
SSD300_KWARGS = {
    "image_size": (300, 300, 3), "n_classes": 20, "l2_regularization": 0.0005,
    "scales": [0.1, 0.2, 0.37, 0.54, 0.71, 0.88, 1.05], "offsets": [0.5] * 6,
}  # fmt: skip
SSD300_ASPECT_RATIOS = (
    [[1.0, 2.0, 0.5]] + [[1.0, 2.0, 0.5, 3.0, 1.0 / 3.0]] * 3 + [[1.0, 2.0, 0.5]] * 2
)
# SSDInputEncoder settings matching each model (the builders' defaults made explicit).
ENCODER_KWARGS = {
    "ssd7": {
        "scales": SSD7_KWARGS["scales"], "aspect_ratios_global": [0.5, 1.0, 2.0],
        "variances": [1.0, 1.0, 1.0, 1.0],
    },
    "ssd300": {
        "scales": SSD300_KWARGS["scales"], "aspect_ratios_per_layer": SSD300_ASPECT_RATIOS,
        "steps": [8, 16, 32, 64, 100, 300], "offsets": [0.5] * 6,
        "variances": [0.1, 0.1, 0.2, 0.2],
    },
}  # fmt: skip
MODELS = {"ssd7": (build_model, SSD7_KWARGS), "ssd300": (ssd_300, SSD300_KWARGS)}
TRAIN_BATCH = {"ssd7": 8, "ssd300": 4}


def median_time(function: Callable[[], object], repeat: int, warmup: int = 1) -> float:
    """Median wall time of `function()` in seconds, after `warmup` untimed calls."""
    return interleaved_median_times({"f": function}, repeat, warmup)["f"]


def interleaved_median_times(functions: dict, repeat: int, warmup: int = 1) -> dict:
    """Median wall time of each function, calling them in turn so load changes hit all alike."""
    for function in functions.values():
        for _ in range(warmup):
            function()
    times = {key: [] for key in functions}
    for _ in range(repeat):
        for key, function in functions.items():
            start = time.perf_counter()
            function()
            times[key].append(time.perf_counter() - start)
    return {key: statistics.median(values) for key, values in times.items()}


def random_images(batch: int, image_size, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (batch, *image_size)).astype("float32")


def random_targets(name: str, model: keras.Model, batch: int, seed: int = 0) -> np.ndarray:
    """Encoded targets `(batch, n_anchors, n_classes + 1 + 12)` for 1-4 random boxes per image."""
    kwargs = MODELS[name][1]
    height, width, _ = kwargs["image_size"]
    rng = np.random.default_rng(seed)
    labels = []
    for _ in range(batch):
        k = int(rng.integers(1, 5))
        xy = rng.uniform(0, [width * 0.6, height * 0.6], (k, 2))
        wh = rng.uniform(20, [width * 0.4, height * 0.4], (k, 2))
        classes = rng.integers(1, kwargs["n_classes"] + 1, (k, 1))
        labels.append(np.hstack([classes, xy, xy + wh]).round())
    encoder = SSDInputEncoder(
        img_height=height,
        img_width=width,
        n_classes=kwargs["n_classes"],
        predictor_sizes=get_predictor_sizes(model),
        normalize_coords=True,
        **ENCODER_KWARGS[name],
    )
    return encoder(labels)


def tame_box_heads(model: keras.Model, factor: float = 1e-3) -> None:
    """Scales the random kernels of the box (loc) heads down so decoded boxes stay near anchors.

    Untrained VGG weights give huge box offsets whose `exp` overflows during decoding; real
    weights do not. The decoding work does not depend on the offsets, only on the scores.
    """
    for layer in model.layers:
        is_box_head = layer.name.endswith("_mbox_loc") or layer.name.startswith("boxes")
        if is_box_head and isinstance(layer, keras.layers.Conv2D):
            layer.kernel.assign(layer.kernel * factor)


def _class_heads(model: keras.Model) -> list:
    return [
        layer
        for layer in model.layers
        if isinstance(layer, keras.layers.Conv2D)
        and (layer.name.endswith("_mbox_conf") or layer.name.startswith("classes"))
    ]


def trained_like_class_heads(
    model: keras.Model, x: np.ndarray, n_classes: int, spread: float = 2.0, background: float = 8.0
) -> None:
    """Gives the random class heads the score statistics of a trained detector.

    A trained SSD predicts background for almost every anchor; random weights instead give
    near-uniform scores, which makes every anchor a candidate of every class. Each class head's
    kernel is rescaled so its logits on `x` have standard deviation `spread`, and `background`
    is added to the background logit of every box. With the defaults about 1% of the anchors
    have an object score above 0.5 and about 10% per class one above 0.01 (printed by the
    script), in the range trained models show before non-maximum suppression.
    """
    heads = _class_heads(model)
    probe = keras.Model(model.inputs, [head.output for head in heads])
    outputs = probe.predict_on_batch(x)
    for head, output in zip(heads, outputs, strict=True):
        head.kernel.assign(head.kernel * (spread / max(float(np.std(output)), 1e-6)))
        bias = keras.ops.convert_to_numpy(head.bias).reshape(-1, n_classes + 1)
        bias[:, 0] += background
        head.bias.assign(bias.reshape(-1))


def trained_like_detector(name: str, model: keras.Model, confidence: float) -> keras.Model:
    """The `'inference'`-mode twin of a random training-mode `model`, decoding realistic work.

    Tames `model`'s box heads and gives its class heads a trained detector's score statistics
    (`tame_box_heads`, `trained_like_class_heads` on 8 random probe images, in place), then builds
    the same model with a `DecodeDetections` layer (`confidence_thresh=confidence`) and copies
    the weights into it.
    """
    builder, kwargs = MODELS[name]
    tame_box_heads(model)
    trained_like_class_heads(
        model, random_images(8, kwargs["image_size"], seed=99), kwargs["n_classes"]
    )
    detector = builder(**kwargs, mode="inference", confidence_thresh=confidence)
    detector.set_weights(model.get_weights())
    return detector


def candidates_per_image(y_pred: np.ndarray, thresh: float) -> float:
    """Mean number of (anchor, object class) pairs per image whose score exceeds `thresh`."""
    return float((y_pred[..., OBJECT_CLASS_SCORES] > thresh).sum() / len(y_pred))


def bench_training(name: str, jit: bool, batch: int, repeat: int) -> float:
    builder, kwargs = MODELS[name]
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    model = builder(**kwargs)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss=SSDLoss(), jit_compile=jit
    )
    x = random_images(batch, kwargs["image_size"])
    y = random_targets(name, model, batch)
    seconds = median_time(lambda: model.train_on_batch(x, y), repeat)
    return batch / seconds


def bench_inference(name: str, jit: bool, repeat: int, scores: str) -> dict:
    """Seconds per batch for raw, in-graph decoded and numpy-decoded inference."""
    builder, kwargs = MODELS[name]
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    raw = builder(**kwargs)
    tame_box_heads(raw)
    if scores == "trained-like":
        probe_images = random_images(8, kwargs["image_size"], seed=99)
        trained_like_class_heads(raw, probe_images, kwargs["n_classes"])
    raw.compile(jit_compile=jit)
    height, width, _ = kwargs["image_size"]
    decoders = {}
    for thresh in THRESHOLDS:
        decoder = builder(**kwargs, mode="inference", confidence_thresh=thresh)
        decoder.set_weights(raw.get_weights())
        decoder.compile(jit_compile=jit)
        decoders[thresh] = decoder
    results = {}
    for batch in INFERENCE_BATCHES:
        x = random_images(batch, kwargs["image_size"], seed=batch)
        functions = {("raw", batch): lambda x=x: raw.predict_on_batch(x)}
        for thresh, decoder in decoders.items():
            functions[("graph", thresh, batch)] = lambda x=x, d=decoder: d.predict_on_batch(x)

            def numpy_path(x=x, thresh=thresh):
                y = raw.predict_on_batch(x)
                return decode_detections(
                    y, confidence_thresh=thresh, iou_threshold=0.45, top_k=200,
                    normalize_coords=True, img_height=height, img_width=width,
                )  # fmt: skip

            functions[("numpy", thresh, batch)] = numpy_path
        results.update(interleaved_median_times(functions, repeat))
        y = raw.predict_on_batch(x)
        for thresh in THRESHOLDS:
            results[("candidates", thresh, batch)] = candidates_per_image(y, thresh)
    return results


def print_inference(name: str, jit: bool, results: dict) -> None:
    for batch in INFERENCE_BATCHES:
        raw = results[("raw", batch)]
        print(f"  {name} jit={jit!s:5} batch {batch}: raw {batch / raw:7.2f} FPS")
        for thresh in THRESHOLDS:
            graph, numpy_time = results[("graph", thresh, batch)], results[("numpy", thresh, batch)]
            print(
                f"    conf>{thresh:<4} ({results[('candidates', thresh, batch)]:7.0f} candidates"
                f" per image): in-graph decoding {batch / graph:7.2f} FPS "
                f"({100 * (graph - raw) / raw:+6.1f}% vs raw), "
                f"predict + numpy decoding {batch / numpy_time:7.2f} FPS "
                f"({100 * (numpy_time - raw) / raw:+6.1f}% vs raw)"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="ssd7,ssd300")
    parser.add_argument("--jit", default="off,on", help="jit_compile settings: off, on or both")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--train-batch", type=int, default=None, help=f"default {TRAIN_BATCH}")
    parser.add_argument(
        "--scores",
        choices=("trained-like", "random"),
        default="trained-like",
        help="class-score statistics of the untrained models: like a trained detector's "
        "(mostly background) or as random weights give them (every anchor a candidate)",
    )
    parser.add_argument("--skip-training", action="store_true", help="only time inference")
    args = parser.parse_args(argv)
    names = [n for n in args.models.split(",") if n]
    jits = [{"off": False, "on": True}[j] for j in args.jit.split(",") if j]
    print(
        f"Keras {keras.__version__}, backend {keras.backend.backend()}, {args.scores} class "
        "scores; timings are indicative"
    )
    ratios = {}
    for name in names:
        for jit in jits:
            if not args.skip_training:
                batch = args.train_batch or TRAIN_BATCH[name]
                ips = bench_training(name, jit, batch, args.repeat)
                print(f"  {name} jit={jit!s:5} training: {ips:7.2f} images/s (batch {batch})")
            results = bench_inference(name, jit, args.repeat, args.scores)
            print_inference(name, jit, results)
            if name == "ssd7":
                raw = results[("raw", 8)]
                for thresh in THRESHOLDS:
                    ratios[(jit, thresh)] = (results[("graph", thresh, 8)] - raw) / raw
    for (jit, thresh), ratio in ratios.items():
        verdict = "meets" if ratio <= 0.10 else "misses"
        print(
            f"RATIO ssd7 batch 8 jit={jit}: in-graph decoding (conf>{thresh}) adds "
            f"{100 * ratio:.1f}% to raw inference; {verdict} the <= 10% target"
        )


if __name__ == "__main__":
    main()
