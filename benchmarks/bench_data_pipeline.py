"""Benchmark: images/s of the training input pipeline against a loop in the original's style.

Two pipelines, batch size 16, on synthetic 300x480 JPEGs with 1-6 random boxes each:

* SSD7: `DataAugmentationConstantInputSize` with the SSD7 tutorial's arguments (random flip 0.5
  included) + the SSD7 tutorial's `SSDInputEncoder` (300x480, 11,692 anchors);
* SSD300: `SSDDataAugmentation(300, 300)` + the SSD300 VOC `SSDInputEncoder` (8,732 anchors).

Measured in one run, for each pipeline:

* baseline: a straightforward single-threaded loop in the original library's style (per-image PIL
  decode, the augmentation chain applied image by image, `np.array` stacking, the per-image
  baseline encoder `tests/reference/reference_encoder.py`);
* `DataGenerator.generate` in the main process, reading the images from the JPEG files, from
  memory (`load_images_into_memory=True`) and from an HDF5 file (`create_hdf5_dataset`);
* `DataGenerator.as_dataset(workers=w, use_multiprocessing=True)` for one and for `--workers`
  worker processes, driven by Keras' own `PyDatasetAdapter` (what `model.fit` uses) for one
  epoch; the rate is measured between the first and the last batch (the pool start, paid once
  per epoch, is printed separately), same three sources.

The random number generators are reseeded before every measurement; every measurement is repeated
in `--rounds` alternating rounds and the medians of the rates and of the per-round ratios are
printed. The CPU may be shared with other work, so the numbers are indicative. Run from the
repository root::

    .venv/bin/python benchmarks/bench_data_pipeline.py [--images 320] [--batches 12] [--workers 2]
                                                       [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from copy import deepcopy
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# The references live in tests/; appended after the root so that tests/<package> folders cannot
# shadow the library's packages.
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))

import cv2
import numpy as np
from PIL import Image
from reference.reference_encoder import encode_per_image

from benchmarks.configs import SSD7_ENCODER, SSD300_ENCODER
from data_generator.data_augmentation_chain_constant_input_size import (
    DataAugmentationConstantInputSize,
)
from data_generator.data_augmentation_chain_original_ssd import SSDDataAugmentation
from data_generator.object_detection_2d_data_generator import DataGenerator
from models.presets import SSD7_ROAD_TRAFFIC
from ssd_app._cli_train import augmentation_chain
from ssd_encoder_decoder.ssd_input_encoder import SSDInputEncoder

BATCH_SIZE = 16
HEIGHT, WIDTH = 300, 480
UDACITY = ["image_name", "xmin", "xmax", "ymin", "ymax", "class_id"]
# Reference numbers of the original library's `generate` on the machine of the task (images/s).
ORIGINAL_GENERATE = {"SSD7": 215.0, "SSD300": 104.0}


def ssd7_chain() -> DataAugmentationConstantInputSize:
    """The augmentation chain of the SSD7 training tutorial (the one the CLI trains with)."""
    return augmentation_chain(SSD7_ROAD_TRAFFIC)


PIPELINES: dict[str, tuple[Callable, dict]] = {
    "SSD7": (ssd7_chain, SSD7_ENCODER),
    "SSD300": (lambda: SSDDataAugmentation(img_height=300, img_width=300), SSD300_ENCODER),
}


# ----------------------------------------------------------------------------------------------
# Synthetic dataset


def write_dataset(folder: Path, num_images: int, seed: int = 0) -> Path:
    """Writes `num_images` JPEGs (blurred random rectangles) and a Udacity-style labels CSV."""
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(num_images):
        image = np.full((HEIGHT, WIDTH, 3), rng.integers(0, 256, size=3), np.uint8)
        for _ in range(int(rng.integers(1, 7))):
            x0, y0 = int(rng.integers(0, WIDTH - 40)), int(rng.integers(0, HEIGHT - 40))
            x1 = min(WIDTH - 1, x0 + int(rng.integers(20, 200)))
            y1 = min(HEIGHT - 1, y0 + int(rng.integers(20, 150)))
            color = tuple(int(c) for c in rng.integers(0, 256, size=3))
            cv2.rectangle(image, (x0, y0), (x1, y1), color, thickness=-1)
            rows.append(f"{index:05d}.jpg,{x0},{x1},{y0},{y1},{int(rng.integers(1, 6))}")
        noise = rng.normal(0, 12, size=image.shape)
        image = np.clip(cv2.GaussianBlur(image, (5, 5), 0) + noise, 0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"{index:05d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    labels = folder / "labels.csv"
    labels.write_text("frame,xmin,xmax,ymin,ymax,class_id\n" + "\n".join(rows) + "\n")
    return labels


# ----------------------------------------------------------------------------------------------
# Measurements


def _reseed() -> None:
    np.random.seed(0)  # noqa: NPY002 - the augmentation ops draw from the global generator
    random.seed(0)


def time_batches(batches: Iterator, num_batches: int) -> float:
    """Images/s over `num_batches` batches (after one warm-up batch)."""
    next(batches)
    start, images = time.perf_counter(), 0
    for _ in range(num_batches):
        images += len(next(batches)[0])
    return images / (time.perf_counter() - start)


def baseline_batches(generator: DataGenerator, chain: Callable, encoder: SSDInputEncoder):
    """The original library's loop: PIL decode, per-image chain, per-image encoder."""
    filenames, labels = generator.filenames, generator.labels
    current = 0
    while True:
        if current >= len(filenames):
            current = 0
        batch_x, batch_y = [], deepcopy(labels[current : current + BATCH_SIZE])
        for offset, filename in enumerate(filenames[current : current + BATCH_SIZE]):
            with Image.open(filename) as image:
                batch_x.append(np.array(image, dtype=np.uint8))
            batch_x[offset], batch_y[offset] = chain(batch_x[offset], batch_y[offset])
        current += BATCH_SIZE
        yield np.array(batch_x), encode_per_image(encoder, batch_y)


def time_workers(dataset, num_batches: int) -> tuple[float, float]:
    """Drives a `PyDataset` with Keras' adapter (the path of `model.fit`) for one epoch.

    Returns:
        `(steady, start)`: images/s between the first and the last batch, and the seconds until
        the first batch (the worker pool is started anew every epoch).
    """
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    adapter = PyDatasetAdapter(dataset)
    adapter.on_epoch_begin()
    start, stamps, images = time.perf_counter(), [], 0
    for step, batch in enumerate(adapter.get_numpy_iterator()):
        stamps.append(time.perf_counter())
        images += len(batch[0]) if step else 0
        if step + 1 == num_batches:
            break
    adapter.on_epoch_end()
    return images / (stamps[-1] - stamps[0]), stamps[0] - start


def make_sources(folder: Path, labels: Path) -> dict[str, DataGenerator]:
    """The same dataset read from JPEG files, from memory and from HDF5."""
    sources = {}
    for name in ("files", "memory", "hdf5"):
        generator = DataGenerator(load_images_into_memory=name == "memory", verbose=False)
        generator.parse_csv(str(folder), str(labels), UDACITY, verbose=False)
        if name == "hdf5":
            generator.create_hdf5_dataset(str(folder / "dataset.h5"), verbose=False)
        sources[name] = generator
    return sources


def measure_round(name: str, sources: dict[str, DataGenerator], args) -> dict[str, float]:
    """One round of every measurement of a pipeline, in images/s."""
    make_chain, encoder_config = PIPELINES[name]
    encoder = SSDInputEncoder(**encoder_config)
    _reseed()
    rates = {
        "loop": time_batches(
            baseline_batches(sources["files"], make_chain(), encoder), args.batches
        )
    }
    for source, generator in sources.items():
        kwargs = {
            "batch_size": BATCH_SIZE,
            "transformations": [make_chain()],
            "label_encoder": encoder,
        }
        _reseed()
        rates[f"{source}/main"] = time_batches(
            generator.generate(shuffle=True, **kwargs), args.batches
        )
        for workers in (1, args.workers):
            dataset = generator.as_dataset(
                seed=0, workers=workers, use_multiprocessing=True, **kwargs
            )
            rates[f"{source}/{workers}w"], _ = time_workers(dataset, len(dataset))
    return rates


def bench_pipeline(name: str, sources: dict[str, DataGenerator], args) -> None:
    """Prints the median rates and per-round ratios of `args.rounds` rounds."""
    rounds = [measure_round(name, sources, args) for _ in range(args.rounds)]

    def median(key: str, over: str | None = None) -> float:
        values = [r[key] / (r[over] if over else 1.0) for r in rounds]
        return float(np.median(values))

    workers, original = args.workers, ORIGINAL_GENERATE[name]
    print(f"\n{name} pipeline, batch {BATCH_SIZE}: images/s (median of {args.rounds} rounds)")
    print(f"  original-style loop (PIL, per-image encoder): {median('loop'):6.1f}")
    print(
        f"  {'source':<8}{'generate':>10}{'1 worker':>10}{f'{workers} workers':>11}"
        f"{'generate/loop':>15}{'generate/' + str(int(original)):>14}"
        f"{f'{workers}w/1w':>8}{f'{workers}w/generate':>14}"
    )
    for source in sources:
        main, one, many = (f"{source}/main", f"{source}/1w", f"{source}/{workers}w")
        print(
            f"  {source:<8}{median(main):10.1f}{median(one):10.1f}{median(many):11.1f}"
            f"{median(main, 'loop'):14.2f}x{median(main) / original:13.2f}x"
            f"{median(many, one):7.2f}x{median(many, main):13.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=320, help="synthetic images")
    parser.add_argument("--batches", type=int, default=12, help="timed batches per measurement")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--pipelines", default="SSD7,SSD300", help="comma-separated subset")
    parser.add_argument("--rounds", type=int, default=3, help="alternating measurement rounds")
    args = parser.parse_args()
    print(
        f"{os.cpu_count()} CPUs; {args.images} synthetic {HEIGHT}x{WIDTH} JPEGs; "
        f"{args.batches} timed batches per single-process measurement"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        labels = write_dataset(folder, args.images)
        sources = make_sources(folder, labels)
        for name in args.pipelines.split(","):
            bench_pipeline(name, sources, args)


if __name__ == "__main__":
    main()
