"""Annotation parsers behind `DataGenerator.parse_csv`, `parse_xml` and `parse_json`.

Each parser reads its files completely before anything is returned, so a malformed file leaves the
calling `DataGenerator` unchanged. Errors name the file and the line (CSV, XML syntax) or the object
(XML object index, COCO annotation id) together with the offending value.

Label rows are written in the order of `labels_output_format`; box coordinates are absolute pixels.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import os
import sys
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from data_generator.dataset_errors import AnnotationError, MissingFileError

#: The six column names `parse_csv` understands, in the Udacity order.
CSV_COLUMNS = ("image_name", "xmin", "xmax", "ymin", "ymax", "class_id")
#: CSV header cells `parse_csv` recognises as one of `CSV_COLUMNS`, after `normalize_header_cell`.
#: A header made of other names is not checked against `input_format`.
CSV_HEADER_NAMES: dict[str, tuple[str, ...]] = {
    "image_name": (
        "image_name",
        "imagename",
        "image",
        "img",
        "frame",
        "filename",
        "file_name",
        "file",
        "image_file",
        "image_path",
    ),
    "xmin": ("xmin", "x_min"),
    "xmax": ("xmax", "x_max"),
    "ymin": ("ymin", "y_min"),
    "ymax": ("ymax", "y_max"),
    "class_id": ("class_id", "classid", "class", "label", "label_id", "category_id"),
}
_COLUMN_OF_HEADER_NAME = {
    name: column for column, names in CSV_HEADER_NAMES.items() for name in names
}
#: Coordinate names of a box.
BOX_COORDINATES = ("xmin", "ymin", "xmax", "ymax")


@dataclass
class ParsedDataset:
    """What a parser found.

    Attributes:
        filenames: Full image paths, one per image.
        labels: One entry per image (an `(k, len(labels_output_format))` array for CSV, a list of
            rows for XML and JSON) or `None` when the annotations carry no boxes.
        image_ids: One id per image (str for CSV/XML, the COCO integer id for JSON).
        eval_neutral: Per image a list of booleans (one per box, `True` = difficult), or `None`.
        extras: Parser specific attributes to set on the generator (COCO category maps).
    """

    filenames: list[str]
    labels: list | None
    image_ids: list
    eval_neutral: list | None = None
    extras: dict[str, Any] = field(default_factory=dict)


def _progress(iterable: Iterable, description: str, verbose: bool, total: int | None = None):
    return tqdm(iterable, desc=description, total=total, file=sys.stdout, disable=not verbose)


def _open_text(path: str, what: str, **kwargs):
    try:
        return open(path, encoding="utf-8", **kwargs)
    except FileNotFoundError:
        raise MissingFileError(f"{what} not found: '{path}'.") from None


def parse_number(text: str, where: str, name: str) -> int | float:
    """Parses a coordinate: an int when the text is an integer, else a finite float.

    Raises:
        AnnotationError: If `text` is not a number or is NaN or infinite; the message starts with
            `where` (file and line or object) and names the column and the value.
    """
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise AnnotationError(f"{where}: {name} value {text!r} is not a number.") from None
    if not math.isfinite(value):
        raise AnnotationError(f"{where}: {name} value {text!r} is not a finite number.")
    return value


def _parse_class_id(text: str, where: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise AnnotationError(f"{where}: class_id value {text!r} is not an integer.") from None


# ----------------------------------------------------------------------------------------------
# CSV


def parse_csv(
    images_dir: str,
    labels_filename: str,
    input_format: Sequence[str],
    labels_output_format: Sequence[str],
    include_classes: str | Sequence[int] = "all",
    random_sample: bool | float = False,
    verbose: bool = True,
) -> ParsedDataset:
    """Parses a CSV file with one box per line (see `DataGenerator.parse_csv`).

    The first line is a header and is skipped; the first `len(input_format)` columns of every other
    line are read by position, as named by `input_format`. Rows are sorted (by file name, then by
    the label values in output order) and grouped per image file.

    The header is checked against `input_format`: each header cell that is a recognised column
    name (`CSV_HEADER_NAMES`, compared by `normalize_header_cell`: case, surrounding spaces,
    inner spaces or hyphens do not matter) must be where `input_format` reads that column. A
    header such as `frame,xmin,ymin,xmax,ymax,class_id` read with `input_format`
    `['image_name', 'xmin', 'xmax', 'ymin', 'ymax', 'class_id']` is refused instead of taking
    the `ymin` column as `xmax`. Header cells that are not recognised names (other words,
    numbers) are not checked, so such files are read by position as before.

    Returns:
        A `ParsedDataset` whose labels are `(k, len(labels_output_format))` int arrays (float when a
        coordinate in the file is not an integer).

    Raises:
        ValueError: If `input_format` lacks a needed column name.
        MissingFileError: If the CSV file does not exist.
        AnnotationError: If the header has fewer cells than `input_format` names, if it names a
            column at another position than `input_format` (the message gives the file, the
            header, `input_format` and, when the header names every needed column, the
            `input_format` that matches it), or on a short row or a bad value (file and line).
    """
    columns = _csv_column_indices(input_format, labels_output_format, labels_filename)
    with _open_text(labels_filename, "Labels file", newline="") as csv_file:
        reader = csv.reader(csv_file, delimiter=",")
        header = next(reader, None)
        if header is None:
            rows = []
        else:
            _check_csv_header(header, input_format, labels_filename)
            rows = _read_csv_rows(
                reader, columns, labels_output_format, include_classes, labels_filename
            )
    rows.sort()
    filenames, labels, image_ids = [], [], []
    groups = itertools.groupby(rows, key=lambda row: row[0])
    for image_name, group in _progress(
        groups, f"Processing '{os.path.basename(labels_filename)}'", verbose
    ):
        boxes = np.array([row[1:] for row in group])
        # one global-generator draw per image, in sorted order, as the original
        if random_sample and not np.random.uniform(0, 1) >= (1 - random_sample):  # noqa: NPY002
            continue
        filenames.append(os.path.join(images_dir, image_name))
        labels.append(boxes)
        image_ids.append(image_name.split(".")[0])
    return ParsedDataset(filenames=filenames, labels=labels, image_ids=image_ids)


def _csv_column_indices(
    input_format: Sequence[str], labels_output_format: Sequence[str], labels_filename: str
) -> dict[str, int]:
    needed = ["image_name", *labels_output_format]
    missing = [name for name in needed if name not in input_format]
    if missing:
        raise ValueError(
            f"`input_format` {list(input_format)} for '{labels_filename}' lacks the column(s) "
            f"{missing}; it must name the columns {list(CSV_COLUMNS)} in the file's order."
        )
    return {name: list(input_format).index(name) for name in needed}


def normalize_header_cell(cell: str) -> str:
    """A CSV header cell in the form `CSV_HEADER_NAMES` uses.

    Lower case, without surrounding whitespace or a byte order mark, inner runs of spaces and
    hyphens replaced by one underscore: `' Class ID'` -> `'class_id'`.
    """
    words = cell.replace("\ufeff", "").strip().lower().replace("-", " ").split()
    return "_".join(words)


def header_columns(header: Sequence[str]) -> list[str | None]:
    """The `CSV_COLUMNS` name each header cell stands for, `None` where it is not recognised."""
    return [_COLUMN_OF_HEADER_NAME.get(normalize_header_cell(cell)) for cell in header]


def _check_csv_header(header: list[str], input_format: Sequence[str], labels_filename: str) -> None:
    where = f"'{labels_filename}', line 1"
    if len(header) < len(input_format):
        missing = list(input_format)[len(header) :]
        raise AnnotationError(
            f"{where}: the header {header} has {len(header)} column(s) but "
            f"`input_format` names {len(input_format)}; column(s) {missing} are missing."
        )
    named = header_columns(header)
    conflicts = [
        f"{column!r} is header[{named.index(column)}] but input_format[{position}]"
        for position, column in enumerate(input_format)
        if column in named and named[position] != column
    ]
    if conflicts:
        raise AnnotationError(
            f"{where}: the header {header} names its columns in another order than `input_format` "
            f"{list(input_format)} ({'; '.join(conflicts)}), and columns are read by position. "
            f"{_header_fix(header, named, input_format)}"
        )


def _header_fix(header: list[str], named: list[str | None], input_format: Sequence[str]) -> str:
    """How to make the header and `input_format` agree, for the error message."""
    needed = [column for column in CSV_COLUMNS if column in input_format]
    if all(column in named for column in needed):
        last = max(named.index(column) for column in needed)
        matching = [column or cell.strip() for column, cell in zip(named, header, strict=True)]
        return (
            f"If the header is right, pass input_format={matching[: last + 1]}; "
            "if `input_format` is right, correct the header."
        )
    return "Give `input_format` in the header's column order, or correct the header."


def _read_csv_rows(
    reader: Any,
    columns: dict[str, int],
    labels_output_format: Sequence[str],
    include_classes: str | Sequence[int],
    labels_filename: str,
) -> list[list]:
    width = max(columns.values()) + 1
    rows = []
    for row in reader:
        if not row or not any(cell.strip() for cell in row):
            continue
        where = f"'{labels_filename}', line {reader.line_num}"
        if len(row) < width:
            raise AnnotationError(
                f"{where}: the row {row} has {len(row)} column(s), `input_format` needs {width}."
            )
        class_id = _parse_class_id(row[columns["class_id"]], where)
        if include_classes != "all" and class_id not in include_classes:
            continue
        image_name = row[columns["image_name"]].strip()
        if not image_name:
            raise AnnotationError(f"{where}: the image_name column is empty.")
        values = [
            class_id if name == "class_id" else parse_number(row[columns[name]], where, name)
            for name in labels_output_format
        ]
        rows.append([image_name, *values])
    return rows


# ----------------------------------------------------------------------------------------------
# Pascal VOC XML


def parse_voc(
    images_dirs: Sequence[str],
    image_set_filenames: Sequence[str],
    annotations_dirs: Sequence[str] | None,
    classes: Sequence[str],
    labels_output_format: Sequence[str],
    include_classes: str | Sequence[int] = "all",
    exclude_truncated: bool = False,
    exclude_difficult: bool = False,
    verbose: bool = True,
) -> ParsedDataset:
    """Parses Pascal VOC image sets and XML annotations (see `DataGenerator.parse_xml`).

    Returns:
        A `ParsedDataset` whose labels are lists of rows (one list per image) and whose
        `eval_neutral` holds the `difficult` flags; both are `None` without `annotations_dirs`.
    """
    with_annotations = bool(annotations_dirs)
    if with_annotations and len(annotations_dirs) != len(images_dirs):
        raise ValueError(
            f"`annotations_dirs` has {len(annotations_dirs)} entries but `images_dirs` has "
            f"{len(images_dirs)}; give one annotations directory per images directory."
        )
    if len(image_set_filenames) != len(images_dirs):
        raise ValueError(
            f"`image_set_filenames` has {len(image_set_filenames)} entries but `images_dirs` has "
            f"{len(images_dirs)}; give one image set file per images directory."
        )
    parsed = ParsedDataset(
        filenames=[],
        labels=[] if with_annotations else None,
        image_ids=[],
        eval_neutral=[] if with_annotations else None,
    )
    annotation_dirs = annotations_dirs if with_annotations else [None] * len(images_dirs)
    for images_dir, set_filename, annotations_dir in zip(
        images_dirs, image_set_filenames, annotation_dirs, strict=True
    ):
        with _open_text(set_filename, "Image set file") as set_file:
            image_ids = [line.strip() for line in set_file if line.strip()]
        parsed.image_ids += image_ids
        description = f"Processing image set '{os.path.basename(set_filename)}'"
        for image_id in _progress(image_ids, description, verbose):
            filename = f"{image_id}.jpg"
            parsed.filenames.append(os.path.join(images_dir, filename))
            if annotations_dir is None:
                continue
            boxes, difficult_flags = _read_voc_annotation(
                os.path.join(annotations_dir, f"{image_id}.xml"),
                filename,
                image_id,
                classes,
                labels_output_format,
                include_classes,
                exclude_truncated,
                exclude_difficult,
            )
            parsed.labels.append(boxes)
            parsed.eval_neutral.append(difficult_flags)
    return parsed


def _load_xml(path: str):
    from bs4 import BeautifulSoup

    try:
        with open(path, "rb") as xml_file:
            data = xml_file.read()
    except FileNotFoundError:
        raise MissingFileError(f"Annotation file not found: '{path}'.") from None
    try:
        ElementTree.fromstring(data)  # strict syntax check: BeautifulSoup silently repairs
    except ElementTree.ParseError as error:
        line, column = error.position
        raise AnnotationError(
            f"'{path}', line {line}, column {column}: malformed XML ({error})."
        ) from None
    return BeautifulSoup(data, "xml")


def _read_voc_annotation(
    path: str,
    filename: str,
    image_id: str,
    classes: Sequence[str],
    labels_output_format: Sequence[str],
    include_classes: str | Sequence[int],
    exclude_truncated: bool,
    exclude_difficult: bool,
) -> tuple[list[list], list[bool]]:
    soup = _load_xml(path)
    folder = soup.find("folder")
    common = {
        "folder": folder.text if folder is not None else None,
        "image_name": filename,
        "image_id": image_id,
    }
    boxes, difficult_flags = [], []
    for index, obj in enumerate(soup.find_all("object")):
        where = f"'{path}', object {index}"
        class_name = _child_text(obj, "name", where)
        if class_name not in classes:
            raise AnnotationError(f"{where}: class name {class_name!r} is not in `classes`.")
        class_id = list(classes).index(class_name)
        if include_classes != "all" and class_id not in include_classes:
            continue
        truncated = _flag(obj, "truncated", where)
        if exclude_truncated and truncated == 1:
            continue
        difficult = _flag(obj, "difficult", where)
        if exclude_difficult and difficult == 1:
            continue
        bndbox = obj.find("bndbox", recursive=False)
        if bndbox is None:
            raise AnnotationError(f"{where}: the <bndbox> element is missing.")
        values = {
            **common,
            "class_name": class_name,
            "class_id": class_id,
            "pose": _child_text(obj, "pose", where, default="Unspecified"),
            "truncated": truncated,
            "difficult": difficult,
        }
        for name in BOX_COORDINATES:
            values[name] = parse_number(_child_text(bndbox, name, where), where, name)
        boxes.append([_output_value(values, name, where) for name in labels_output_format])
        difficult_flags.append(bool(difficult))
    return boxes, difficult_flags


def _child_text(element: Any, name: str, where: str, default: str | None = None) -> str:
    child = element.find(name)
    if child is None:
        if default is not None:
            return default
        raise AnnotationError(f"{where}: the <{name}> element is missing.")
    return child.text.strip()


def _flag(element: Any, name: str, where: str) -> int:
    text = _child_text(element, name, where, default="0")
    try:
        return int(text)
    except ValueError:
        raise AnnotationError(f"{where}: <{name}> value {text!r} is not an integer.") from None


def _output_value(values: dict[str, Any], name: str, where: str) -> Any:
    if name not in values:
        raise ValueError(
            f"{where}: `labels_output_format` item {name!r} is not available; choose from "
            f"{sorted(values)}."
        )
    return values[name]


# ----------------------------------------------------------------------------------------------
# MS COCO JSON


def parse_coco(
    images_dirs: Sequence[str],
    annotations_filenames: Sequence[str],
    labels_output_format: Sequence[str],
    ground_truth_available: bool = False,
    include_classes: str | Sequence[int] = "all",
    verbose: bool = True,
) -> ParsedDataset:
    """Parses MS COCO annotation files (see `DataGenerator.parse_json`).

    The category maps come from the first file's `categories` in file order: category `i` of that
    list becomes class id `i + 1`. `include_classes` filters on the original COCO category ids,
    not on the consecutive class ids. Boxes become rows with `xmin = x`, `ymin = y`,
    `xmax = x + w`, `ymax = y + h` (pixels).

    Returns:
        A `ParsedDataset` with integer COCO image ids, labels as lists of rows (or `None` without
        ground truth) and the category maps in `extras`.

    Raises:
        MissingFileError: If an annotations file does not exist.
        AnnotationError: On malformed JSON, a missing key, a category id listed twice in the
            first file's `categories`, an image id listed twice in a file's `images`, an
            annotation whose `image_id` is not among its file's images, an unknown category or a
            bad bbox; the message names the file and the entry.
    """
    if len(annotations_filenames) != len(images_dirs):
        raise ValueError(
            f"`annotations_filenames` has {len(annotations_filenames)} entries but `images_dirs` "
            f"has {len(images_dirs)}; give one annotations file per images directory."
        )
    documents = [_load_json(path) for path in annotations_filenames]
    maps = _coco_category_maps(documents[0], annotations_filenames[0]) if documents else {}
    parsed = ParsedDataset(
        filenames=[], labels=[] if ground_truth_available else None, image_ids=[], extras=maps
    )
    for images_dir, path, document in zip(
        images_dirs, annotations_filenames, documents, strict=True
    ):
        images = _required_key(document, "images", f"'{path}'")
        _check_unique_image_ids(images, path)
        by_image = _annotations_by_image(document, path) if ground_truth_available else None
        for index, image in enumerate(
            _progress(images, f"Processing '{os.path.basename(path)}'", verbose)
        ):
            where = f"'{path}', images[{index}]"
            file_name = _required_key(image, "file_name", where)
            image_id = _required_key(image, "id", where)
            parsed.filenames.append(os.path.join(images_dir, file_name))
            parsed.image_ids.append(image_id)
            if by_image is not None:
                parsed.labels.append(
                    _coco_boxes(
                        by_image[image_id],
                        file_name,
                        image_id,
                        maps,
                        include_classes,
                        labels_output_format,
                        path,
                    )
                )
        if by_image is not None:
            _check_annotated_images_exist(by_image, images, path)
    return parsed


def _load_json(path: str) -> dict:
    with _open_text(path, "Annotations file") as json_file:
        try:
            return json.load(json_file)
        except json.JSONDecodeError as error:
            raise AnnotationError(
                f"'{path}', line {error.lineno}, column {error.colno}: malformed JSON "
                f"({error.msg})."
            ) from None


def _required_key(mapping: Any, key: str, where: str) -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        raise AnnotationError(f"{where}: the key {key!r} is missing.")
    return mapping[key]


def read_coco_category_maps(annotations_filename: str | os.PathLike) -> dict[str, Any]:
    """The category maps of an MS COCO annotations file.

    Category `i` of the file's `categories` list (in file order) becomes class id `i + 1`; class
    0 is the background.

    Args:
        annotations_filename: Path of an MS COCO annotations JSON file.

    Returns:
        A dict with `cats_to_names` (category id -> name), `classes_to_names` (list of names
        indexed by class id, element 0 `'background'`), `cats_to_classes` (category id -> class
        id) and `classes_to_cats` (class id -> category id).

    Raises:
        MissingFileError: If the file does not exist.
        AnnotationError: On malformed JSON, a missing `categories`, `id` or `name` key, or a
            category id listed twice; the message names the file, the entry and the id.
    """
    path = os.fspath(annotations_filename)
    return _coco_category_maps(_load_json(path), path)


def _coco_category_maps(document: dict, path: str) -> dict[str, Any]:
    cats_to_names, classes_to_names = {}, ["background"]
    cats_to_classes, classes_to_cats = {}, {}
    for index, category in enumerate(_required_key(document, "categories", f"'{path}'")):
        where = f"'{path}', categories[{index}]"
        cat_id, name = _required_key(category, "id", where), _required_key(category, "name", where)
        if cat_id in cats_to_classes:
            raise AnnotationError(
                f"{where}: category id {cat_id!r} is already the id of "
                f"categories[{cats_to_classes[cat_id] - 1}]; category ids must be unique."
            )
        cats_to_names[cat_id] = name
        classes_to_names.append(name)
        cats_to_classes[cat_id] = index + 1
        classes_to_cats[index + 1] = cat_id
    return {
        "cats_to_names": cats_to_names,
        "classes_to_names": classes_to_names,
        "cats_to_classes": cats_to_classes,
        "classes_to_cats": classes_to_cats,
    }


def _annotations_by_image(document: dict, path: str) -> defaultdict[Any, list]:
    by_image = defaultdict(list)
    for index, annotation in enumerate(_required_key(document, "annotations", f"'{path}'")):
        where = f"'{path}', annotations[{index}]"
        by_image[_required_key(annotation, "image_id", where)].append((index, annotation))
    return by_image


def _check_unique_image_ids(images: list, path: str) -> None:
    first_index = {}
    for index, image in enumerate(images):
        image_id = _required_key(image, "id", f"'{path}', images[{index}]")
        if image_id in first_index:
            raise AnnotationError(
                f"'{path}', images[{index}]: image id {image_id!r} is already the id of "
                f"images[{first_index[image_id]}]; image ids must be unique."
            )
        first_index[image_id] = index


def _check_annotated_images_exist(
    by_image: dict[Any, list[tuple[int, dict]]], images: list, path: str
) -> None:
    known = {image["id"] for image in images}
    unknown = [entries[0] for image_id, entries in by_image.items() if image_id not in known]
    if unknown:
        index, annotation = min(unknown, key=lambda entry: entry[0])
        raise AnnotationError(
            f"'{path}', annotations[{index}] (id {annotation.get('id')}): image_id "
            f"{annotation['image_id']!r} is not the id of any entry in the file's images."
        )


def _coco_boxes(
    annotations: list[tuple[int, dict]],
    file_name: str,
    image_id: Any,
    maps: dict[str, Any],
    include_classes: str | Sequence[int],
    labels_output_format: Sequence[str],
    path: str,
) -> list[list]:
    boxes = []
    for index, annotation in annotations:
        where = f"'{path}', annotations[{index}] (id {annotation.get('id')})"
        cat_id = _required_key(annotation, "category_id", where)
        if include_classes != "all" and cat_id not in include_classes:
            continue
        if cat_id not in maps["cats_to_classes"]:
            raise AnnotationError(
                f"{where}: category_id {cat_id!r} is not among the categories "
                "of the first annotations file."
            )
        x, y, width, height = _coco_bbox(_required_key(annotation, "bbox", where), where)
        values = {
            "image_name": file_name,
            "image_id": image_id,
            "class_id": maps["cats_to_classes"][cat_id],
            "xmin": x,
            "ymin": y,
            "xmax": x + width,
            "ymax": y + height,
        }
        boxes.append([_output_value(values, name, where) for name in labels_output_format])
    return boxes


def _coco_bbox(bbox: Any, where: str) -> list[int | float]:
    if not isinstance(bbox, list) or len(bbox) != 4:
        raise AnnotationError(f"{where}: bbox {bbox!r} is not a list of 4 numbers.")
    for value in bbox:
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not is_number or not math.isfinite(value):
            raise AnnotationError(
                f"{where}: bbox {bbox!r} holds the non-numeric or non-finite value {value!r}."
            )
    return bbox
