"""Writing the dataset to disk: frames as JPEG, labels as CSV, Pascal VOC XML and COCO JSON.

`generate_dataset` renders every frame of both splits (in worker processes when asked; the
bytes do not depend on the number of workers) and writes the label files of the requested
formats.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from data_generator.synthetic_traffic.constants import (
    _BOX_CLASS,
    _BOX_DIFF,
    _BOX_TRUNC,
    _BOX_XMAX,
    _BOX_XMIN,
    _BOX_YMAX,
    _BOX_YMIN,
    CLASS_NAMES,
    CSV_HEADER,
    FORMATS,
)
from data_generator.synthetic_traffic.render import _check_size, _make_frame


def frame_name(split: str, index: int) -> str:
    """File name of frame `index` of `split`, e.g. `'train_000042.jpg'`."""
    return f"{split}_{index:06d}.jpg"


def _voc_xml(name: str, boxes: np.ndarray, height: int, width: int) -> str:
    objects = "".join(
        "  <object>\n"
        f"    <name>{CLASS_NAMES[int(b[_BOX_CLASS])]}</name>\n"
        "    <pose>Unspecified</pose>\n"
        f"    <truncated>{int(b[_BOX_TRUNC])}</truncated>\n"
        f"    <difficult>{int(b[_BOX_DIFF])}</difficult>\n"
        "    <bndbox>\n"
        f"      <xmin>{int(b[_BOX_XMIN])}</xmin>\n"
        f"      <ymin>{int(b[_BOX_YMIN])}</ymin>\n"
        f"      <xmax>{int(b[_BOX_XMAX])}</xmax>\n"
        f"      <ymax>{int(b[_BOX_YMAX])}</ymax>\n"
        "    </bndbox>\n"
        "  </object>\n"
        for b in boxes
    )
    return (
        "<annotation>\n"
        "  <folder>synthetic_traffic</folder>\n"
        f"  <filename>{name}</filename>\n"
        f"  <size>\n    <width>{width}</width>\n    <height>{height}</height>\n"
        "    <depth>3</depth>\n  </size>\n"
        "  <segmented>0</segmented>\n"
        f"{objects}</annotation>\n"
    )


def _frame_task(task: tuple) -> tuple:
    seed, split, index, height, width, out_dir, write_voc = task
    data, boxes = _make_frame(seed, split, index, height, width)
    name = frame_name(split, index)
    with open(os.path.join(out_dir, name), "wb") as f:
        f.write(data)
    if write_voc:
        xml = _voc_xml(name, boxes, height, width)
        with open(os.path.join(out_dir, "Annotations", name[:-4] + ".xml"), "w") as f:
            f.write(xml)
    return index, boxes


def _worker_init() -> None:
    cv2.setNumThreads(1)


def _run_tasks(tasks: list, workers: int, desc: str, verbose: bool) -> list:
    results = [None] * len(tasks)
    bar = tqdm(total=len(tasks), desc=desc, unit="img", disable=not verbose)
    try:
        if workers <= 1 or len(tasks) < 8:
            for task in tasks:
                index, boxes = _frame_task(task)
                results[index] = boxes
                bar.update()
        else:
            ctx = multiprocessing.get_context("spawn")
            chunk = max(1, min(32, len(tasks) // (workers * 8)))
            with ctx.Pool(workers, initializer=_worker_init) as pool:
                for index, boxes in pool.imap_unordered(_frame_task, tasks, chunksize=chunk):
                    results[index] = boxes
                    bar.update()
    finally:
        bar.close()
    return results


def _write_csv(path: Path, split: str, boxes_per_frame: list) -> None:
    lines = [",".join(CSV_HEADER)]
    for index, boxes in enumerate(boxes_per_frame):
        name = frame_name(split, index)
        lines.extend(
            f"{name},{b[_BOX_XMIN]},{b[_BOX_XMAX]},{b[_BOX_YMIN]},{b[_BOX_YMAX]},{b[_BOX_CLASS]}"
            for b in boxes
        )
    path.write_text("\n".join(lines) + "\n")


def _write_coco(path: Path, split: str, boxes_per_frame: list, height: int, width: int) -> None:
    images, annotations = [], []
    for index, boxes in enumerate(boxes_per_frame):
        images.append(
            {
                "id": index + 1,
                "file_name": frame_name(split, index),
                "height": height,
                "width": width,
            }
        )
        for b in boxes:
            w, h = int(b[_BOX_XMAX] - b[_BOX_XMIN]), int(b[_BOX_YMAX] - b[_BOX_YMIN])
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": index + 1,
                    "category_id": int(b[_BOX_CLASS]),
                    "bbox": [int(b[_BOX_XMIN]), int(b[_BOX_YMIN]), w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
    supercategory = ("", "vehicle", "vehicle", "person", "person", "outdoor")
    categories = [
        {"id": i, "name": CLASS_NAMES[i], "supercategory": supercategory[i]}
        for i in range(1, len(CLASS_NAMES))
    ]
    doc = {
        "info": {"description": f"Synthetic road traffic ({split})", "version": "1.0"},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }
    path.write_text(json.dumps(doc))


def _check_generate_args(n_train, n_val, seed, formats, workers) -> tuple:
    for name, value in (("n_train", n_train), ("n_val", n_val), ("seed", seed)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
            raise ValueError(f"`{name}` must be a non-negative integer, got {value!r}")
    if isinstance(formats, str):
        formats = (formats,)
    formats = tuple(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"`formats` must be a non-empty subset of {FORMATS}, got {formats!r}")
    if workers is None:
        workers = (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else (os.cpu_count() or 1)
        )
    if not isinstance(workers, (int, np.integer)) or isinstance(workers, bool) or workers < 0:
        raise ValueError(f"`workers` must be None or a non-negative integer, got {workers!r}")
    return formats, int(workers)


def generate_dataset(
    output_dir: str | os.PathLike,
    n_train: int = 3000,
    n_val: int = 500,
    seed: int = 0,
    formats: Sequence[str] = ("csv",),
    img_height: int = 300,
    img_width: int = 480,
    workers: int | None = None,
    verbose: bool = True,
) -> dict:
    """Write a synthetic road-traffic dataset to `output_dir`.

    Layout (`N` = frame index, six digits)::

        output_dir/train_N.jpg, val_N.jpg       the frames (JPEG, RGB)
        output_dir/labels_train.csv, labels_val.csv          formats 'csv'
        output_dir/Annotations/<split>_N.xml                 formats 'voc'
        output_dir/ImageSets/Main/train.txt, val.txt         formats 'voc'
        output_dir/annotations/instances_train.json, ...val  formats 'coco'

    The CSV files have the header `frame,xmin,xmax,ymin,ymax,class_id` and one row per box
    (`minmax` format, integer pixels); read them with `DataGenerator.parse_csv(images_dir=
    output_dir, labels_filename=..., input_format=['image_name', 'xmin', 'xmax', 'ymin',
    'ymax', 'class_id'])`. Frames without boxes (a few percent) have no CSV row, so only
    the VOC and COCO formats list them. VOC files use the class names of
    `CLASS_NAMES` (pass `classes=CLASS_NAMES` to `parse_xml`) and the same pixel
    values as the CSV; COCO boxes are `[xmin, ymin, xmax - xmin, ymax - ymin]` with
    category ids 1..5 and image ids `N + 1`.

    Args:
        output_dir: Folder to write into (created if missing). Files of the same names are
            replaced; frames left over from a larger earlier run are not deleted, but the label
            files only list the frames of this run.
        n_train: Number of training frames.
        n_val: Number of validation frames.
        seed: Seed; frame `N` of a split depends only on `(seed, split, N)` and the size.
        formats: Any of `'csv'`, `'voc'`, `'coco'`.
        img_height: Frame height in pixels.
        img_width: Frame width in pixels.
        workers: Worker processes; None uses every available core, 0 or 1 work in-process.
            The output is identical for any value.
        verbose: Show tqdm progress bars.

    Returns:
        A dict with `images_dir` and, per split, `n_<split>`, `boxes_<split>` (box
        count) and the label paths written: `labels_<split>` (CSV), `image_set_<split>`
        and `annotations_dir` (VOC), `coco_<split>` (COCO). Paths are strings.

    Raises:
        ValueError: On negative counts or seed, unknown formats, bad workers or image size.
        OSError: If `output_dir` cannot be created or written.
    """
    formats, workers = _check_generate_args(n_train, n_val, seed, formats, workers)
    _check_size(img_height, img_width)
    out = Path(output_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"cannot create `output_dir` {str(out)!r}: {exc.strerror or exc}") from exc
    if "voc" in formats:
        (out / "Annotations").mkdir(exist_ok=True)
        (out / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
    if "coco" in formats:
        (out / "annotations").mkdir(exist_ok=True)
    result = {"images_dir": str(out)}
    for split, count in (("train", int(n_train)), ("val", int(n_val))):
        tasks = [
            (int(seed), split, i, img_height, img_width, str(out), "voc" in formats)
            for i in range(count)
        ]
        boxes = _run_tasks(tasks, workers, f"Generating {split} images", verbose)
        result[f"n_{split}"] = count
        result[f"boxes_{split}"] = int(sum(len(b) for b in boxes))
        if "csv" in formats:
            path = out / f"labels_{split}.csv"
            _write_csv(path, split, boxes)
            result[f"labels_{split}"] = str(path)
        if "voc" in formats:
            path = out / "ImageSets" / "Main" / f"{split}.txt"
            path.write_text("".join(frame_name(split, i)[:-4] + "\n" for i in range(count)))
            result[f"image_set_{split}"] = str(path)
            result["annotations_dir"] = str(out / "Annotations")
        if "coco" in formats:
            path = out / "annotations" / f"instances_{split}.json"
            _write_coco(path, split, boxes, img_height, img_width)
            result[f"coco_{split}"] = str(path)
    return result
