"""Tests of the embedded synthetic road-traffic dataset (`data_generator.synthetic_traffic`).

The files are checked directly (csv / ElementTree / json / pandas), independently of the
parsers of `DataGenerator`.
"""

from __future__ import annotations

import csv
import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from data_generator import synthetic_traffic as st
from data_generator.synthetic_traffic.render import _label_row, _Placed

H, W = 300, 480
N_TRAIN, N_VAL, SEED = 10, 4, 7
N_STATS = 120  # frames rendered in memory for the distribution checks


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("synthetic_w1")
    info = st.generate_dataset(
        out,
        n_train=N_TRAIN,
        n_val=N_VAL,
        seed=SEED,
        formats=st.FORMATS,
        workers=1,
        verbose=False,
    )
    return out, info


@pytest.fixture(scope="module")
def sample_labels() -> list[np.ndarray]:
    return [st.render_scene(0, i, "train", jpeg=False)[1] for i in range(N_STATS)]


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def _csv_boxes(path: Path) -> dict[str, list[tuple[int, ...]]]:
    """frame -> list of (class_id, xmin, ymin, xmax, ymax) in file order."""
    boxes: dict[str, list[tuple[int, ...]]] = {}
    for frame, xmin, xmax, ymin, ymax, class_id in _read_csv(path)[1]:
        boxes.setdefault(frame, []).append(
            tuple(int(v) for v in (class_id, xmin, ymin, xmax, ymax))
        )
    return boxes


# -- determinism ----------------------------------------------------------------------


def test_render_scene_is_deterministic_and_seed_dependent():
    img_a, lab_a = st.render_scene(3, 5, "val")
    img_b, lab_b = st.render_scene(3, 5, "val")
    np.testing.assert_array_equal(img_a, img_b)
    np.testing.assert_array_equal(lab_a, lab_b)
    img_c, _ = st.render_scene(4, 5, "val")
    img_d, _ = st.render_scene(3, 5, "train")
    assert not np.array_equal(img_a, img_c)
    assert not np.array_equal(img_a, img_d)


def test_files_identical_for_any_worker_count(dataset, tmp_path):
    out1, _ = dataset
    out2 = tmp_path / "w2"
    st.generate_dataset(
        out2,
        n_train=N_TRAIN,
        n_val=N_VAL,
        seed=SEED,
        formats=st.FORMATS,
        workers=2,
        verbose=False,
    )
    files1 = sorted(p.relative_to(out1) for p in out1.rglob("*") if p.is_file())
    files2 = sorted(p.relative_to(out2) for p in out2.rglob("*") if p.is_file())
    assert files1 == files2
    assert len(files1) == (N_TRAIN + N_VAL) * 2 + 2 + 2 + 2  # jpg + xml, csv, sets, json
    for rel in files1:
        assert (out1 / rel).read_bytes() == (out2 / rel).read_bytes(), rel


def test_file_pixels_and_labels_match_render_scene(dataset):
    out, _ = dataset
    boxes = _csv_boxes(out / "labels_train.csv")
    for index in (0, 3):
        name = st.frame_name("train", index)
        img, labels = st.render_scene(SEED, index, "train")
        on_disk = cv2.cvtColor(cv2.imread(str(out / name)), cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(on_disk, img)
        assert [tuple(r) for r in labels.tolist()] == boxes.get(name, [])


# -- CSV layout -------------------------------------------------------------------------


def test_csv_header_and_rows(dataset):
    out, info = dataset
    assert info["labels_train"] == str(out / "labels_train.csv")
    assert info["labels_val"] == str(out / "labels_val.csv")
    first_line = (out / "labels_train.csv").read_text().splitlines()[0]
    assert first_line == "frame,xmin,xmax,ymin,ymax,class_id"
    for split, count in (("train", N_TRAIN), ("val", N_VAL)):
        header, rows = _read_csv(out / f"labels_{split}.csv")
        assert tuple(header) == st.CSV_HEADER
        assert len(rows) == info[f"boxes_{split}"] > 0
        names = {st.frame_name(split, i) for i in range(count)}
        for row in rows:
            assert len(row) == 6
            assert row[0] in names
            assert all(v.lstrip("-").isdigit() for v in row[1:]), row
        frame = pd.read_csv(out / f"labels_{split}.csv")
        assert list(frame.columns) == list(st.CSV_HEADER)
        assert all(pd.api.types.is_integer_dtype(frame[c]) for c in st.CSV_HEADER[1:])


def test_images_are_300x480_rgb_jpegs(dataset):
    out, _ = dataset
    for split, count in (("train", N_TRAIN), ("val", N_VAL)):
        for i in range(count):
            data = (out / st.frame_name(split, i)).read_bytes()
            assert data[:2] == b"\xff\xd8"
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
            assert img.shape == (H, W, 3)
            assert img.std() > 8  # a scene, not a flat colour (night frames are dark)


# -- boxes ------------------------------------------------------------------------------


def test_boxes_inside_image_and_not_degenerate(sample_labels):
    boxes = np.concatenate(sample_labels)
    cls, xmin, ymin, xmax, ymax = boxes.T
    assert set(np.unique(cls)) == {1, 2, 3, 4, 5}
    assert (xmin >= 0).all() and (ymin >= 0).all()
    assert (xmax <= W - 1).all() and (ymax <= H - 1).all()
    assert (xmax - xmin >= st.MIN_BOX_SIDE).all() and (ymax - ymin >= st.MIN_BOX_SIDE).all()


def test_class_imbalance_like_udacity(sample_labels):
    cls = np.concatenate(sample_labels)[:, 0]
    share = {c: np.mean(cls == c) for c in range(1, 6)}
    assert 0.55 < share[1] < 0.8  # mostly cars
    for c in (2, 3, 5):  # then trucks, pedestrians and lights
        assert 0.03 < share[c] < 0.2, (c, share[c])
    assert 0.003 < share[4] < min(share[2], share[3], share[5])  # few bicyclists
    assert 3.5 < len(cls) / N_STATS < 8.0  # boxes per frame


def test_sizes_cover_small_to_large_and_follow_perspective(sample_labels):
    boxes = np.concatenate(sample_labels)
    height = boxes[:, 4] - boxes[:, 2]
    width = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(height, width)
    assert side.min() <= 12 and side.max() >= 150
    assert np.mean(side < 32) > 0.3  # many small, distant objects
    assert 15 < np.median(side) < 80
    # cars standing on the ground: those whose bottom is nearer the horizon are smaller
    cars = boxes[(boxes[:, 0] == 1) & (boxes[:, 4] < H - 1) & (boxes[:, 3] - boxes[:, 1] > 0)]
    rank = lambda v: np.argsort(np.argsort(v))  # noqa: E731
    rho = np.corrcoef(rank(cars[:, 4]), rank(cars[:, 4] - cars[:, 2]))[0, 1]
    assert rho > 0.6


def test_some_frames_are_empty(sample_labels):
    empty = np.mean([len(lab) == 0 for lab in sample_labels])
    assert 0.0 < empty < 0.1


def test_traffic_lights_hang_above_the_cars(sample_labels):
    boxes = np.concatenate(sample_labels)
    centre_y = (boxes[:, 2] + boxes[:, 4]) / 2
    assert np.median(centre_y[boxes[:, 0] == 5]) < np.median(centre_y[boxes[:, 0] == 1]) - 15


# -- annotation rule ------------------------------------------------------------------


def _placed(box, visible: int, in_frame: int, total: int) -> tuple:
    """A fake placed object: a 40x50 patch at (0, 0) with `in_frame` solid pixels, of which
    `visible` are still its own in the id map; `total` counts those outside the frame too."""
    solid = np.zeros((40, 50), bool)
    solid.flat[:in_frame] = True
    ids = np.zeros((H, W), np.int32)
    ids[:40, :50].flat[np.flatnonzero(solid)[:visible]] = 9
    placed = _Placed(1, box, (0, 40, 0, 50), solid, total, in_frame)
    return placed, ids


@pytest.mark.parametrize(
    ("visible", "expected"),
    [(100, (0, 0)), (50, (0, 0)), (49, (0, 1)), (30, (0, 1)), (29, None)],
)
def test_label_rule_occlusion_thresholds(visible, expected):
    placed, ids = _placed((10, 20, 40, 60), visible, 100, 100)
    row = _label_row(placed, 9, ids, W, H)
    if expected is None:
        assert row is None  # more than 70 % hidden
    else:
        assert row == (1, 10, 20, 40, 60, *expected)


def test_label_rule_truncation_and_size():
    kept_total = math.floor(100 / st.MIN_IN_FRAME_FRACTION)  # 100 px in frame, rest outside
    placed, ids = _placed((-30, 250, 20, 330), 100, 100, kept_total)
    assert _label_row(placed, 9, ids, W, H) == (1, 0, 250, 20, H - 1, 1, 0)
    placed, ids = _placed((-30, 250, 20, 330), 100, 100, kept_total + 1)
    assert _label_row(placed, 9, ids, W, H) is None
    # a large in-frame part is kept even when it is a small fraction of a huge object
    n = st.MIN_IN_FRAME_PIXELS
    placed, ids = _placed((-300, 100, 40, 299), n, n, 100 * n)
    assert _label_row(placed, 9, ids, W, H) == (1, 0, 100, 40, 299, 1, 0)
    placed, ids = _placed((-300, 100, 40, 299), n - 1, n - 1, 100 * n)
    assert _label_row(placed, 9, ids, W, H) is None
    placed, ids = _placed((100, 100, 103, 140), 100, 100, 100)  # 3 px wide
    assert _label_row(placed, 9, ids, W, H) is None
    placed, ids = _placed((100, 100, 104, 104), 100, 100, 100)
    assert _label_row(placed, 9, ids, W, H) == (1, 100, 100, 104, 104, 0, 0)


# -- VOC and COCO -----------------------------------------------------------------------


def test_voc_xml_agrees_with_csv(dataset):
    out, info = dataset
    assert info["annotations_dir"] == str(out / "Annotations")
    for split, count in (("train", N_TRAIN), ("val", N_VAL)):
        csv_boxes = _csv_boxes(out / f"labels_{split}.csv")
        ids = (out / "ImageSets" / "Main" / f"{split}.txt").read_text().split()
        assert ids == [st.frame_name(split, i)[:-4] for i in range(count)]
        for image_id in ids:
            root = ET.parse(out / "Annotations" / f"{image_id}.xml").getroot()
            assert root.findtext("filename") == image_id + ".jpg"
            assert root.findtext("folder")
            assert (root.findtext("size/width"), root.findtext("size/height")) == (str(W), str(H))
            rows = []
            for obj in root.iter("object"):
                box = [int(obj.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")]
                rows.append((st.CLASS_NAMES.index(obj.findtext("name")), *box))
                assert obj.findtext("pose") == "Unspecified"
                assert obj.findtext("difficult") in ("0", "1")
                assert obj.findtext("truncated") in ("0", "1")
                if obj.findtext("truncated") == "1":  # clipped boxes end on a border
                    assert box[0] == 0 or box[1] == 0 or box[2] == W - 1 or box[3] == H - 1
            assert rows == csv_boxes.get(image_id + ".jpg", [])


def test_coco_json_agrees_with_csv(dataset):
    out, info = dataset
    for split, count in (("train", N_TRAIN), ("val", N_VAL)):
        doc = json.loads(Path(info[f"coco_{split}"]).read_text())
        assert [c["id"] for c in doc["categories"]] == [1, 2, 3, 4, 5]
        assert [c["name"] for c in doc["categories"]] == list(st.CLASS_NAMES[1:])
        assert [im["file_name"] for im in doc["images"]] == [
            st.frame_name(split, i) for i in range(count)
        ]
        assert all((im["width"], im["height"]) == (W, H) for im in doc["images"])
        names = {im["id"]: im["file_name"] for im in doc["images"]}
        assert len(names) == count
        from_json: dict[str, list] = {}
        for ann in doc["annotations"]:
            x, y, w, h = ann["bbox"]
            assert ann["area"] == w * h and ann["iscrowd"] == 0
            from_json.setdefault(names[ann["image_id"]], []).append(
                (ann["category_id"], x, y, x + w, y + h)
            )
        assert len({a["id"] for a in doc["annotations"]}) == len(doc["annotations"])
        assert from_json == _csv_boxes(out / f"labels_{split}.csv")


# -- arguments and command line -----------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"formats": ("csv", "yaml")}, "formats"),
        ({"formats": ()}, "formats"),
        ({"n_train": -1}, "n_train"),
        ({"seed": 1.5}, "seed"),
        ({"workers": -2}, "workers"),
        ({"img_height": 10}, "img_height"),
    ],
)
def test_generate_dataset_rejects_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        st.generate_dataset(tmp_path, **{"n_train": 1, "n_val": 0, "verbose": False, **kwargs})


def test_render_scene_rejects_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        st.render_scene(0, 0, "test")
    with pytest.raises(ValueError, match="index"):
        st.render_scene(0, -1)


def test_other_image_size(tmp_path):
    img, labels = st.render_scene(1, 2, img_height=128, img_width=160)
    assert img.shape == (128, 160, 3)
    assert (labels[:, 3] <= 159).all() and (labels[:, 4] <= 127).all()


def test_command_line(tmp_path, capsys):
    out = tmp_path / "cli"
    code = st.main(
        [
            str(out),
            "--n-train",
            "2",
            "--n-val",
            "1",
            "--seed",
            "3",
            "--workers",
            "0",
            "--formats",
            "csv",
            "coco",
            "--quiet",
        ]
    )
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "annotations",
        "labels_train.csv",
        "labels_val.csv",
        "train_000000.jpg",
        "train_000001.jpg",
        "val_000000.jpg",
    ]
    with pytest.raises(SystemExit):
        st.main([str(out), "--formats", "yaml"])
    assert "invalid choice" in capsys.readouterr().err
    assert st.main([str(out), "--n-train", "-3", "--quiet"]) == 2
    assert "n_train" in capsys.readouterr().err
