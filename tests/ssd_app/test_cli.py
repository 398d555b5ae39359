"""Tests of the `ssd-keras` command line (`ssd_app.cli`) on a tiny synthetic dataset."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import numpy as np
import pytest

from data_generator.synthetic_traffic import generate_dataset
from ssd_app import _cli_setup as setup
from ssd_app import cli

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY_TRAINING = ("--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "2", "--verbose", "0")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """8 training and 4 validation frames in all three label formats."""
    root = tmp_path_factory.mktemp("traffic")
    return generate_dataset(
        root, n_train=8, n_val=4, seed=0, formats=("csv", "voc", "coco"), workers=1, verbose=False
    )


def _train_args(data, output_dir, *extra):
    return [
        "train",
        "--images-dir", data["images_dir"],
        "--train-labels", data["labels_train"],
        "--val-labels", data["labels_val"],
        "--output-dir", str(output_dir),
        "--seed", "0",
        *TINY_TRAINING,
        *extra,
    ]  # fmt: skip


def _log_epochs(output_dir):
    with open(os.path.join(output_dir, "training_log.csv"), encoding="utf-8") as file:
        return [int(row["epoch"]) for row in csv.DictReader(file)]


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    """Output folder of a one-step SSD7 training run."""
    output_dir = tmp_path_factory.mktemp("run")
    assert cli.main(_train_args(data, output_dir)) == 0
    return output_dir


@pytest.mark.parametrize("command", ["train", "evaluate", "predict"])
def test_help_explains_every_option(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    parser = cli.build_parser()
    subparser = parser._subparsers._group_actions[0].choices[command]
    for action in subparser._actions:
        assert action.help, f"{command} option {action.dest} has no help text"
        for flag in action.option_strings:
            assert flag in text


def test_train_writes_model_log_and_checkpoint(trained):
    for name in ("model.keras", "model.h5", "training_log.csv"):
        assert os.path.getsize(os.path.join(trained, name)) > 0
    assert _log_epochs(trained) == [0]
    checkpoints = os.listdir(os.path.join(trained, "checkpoints"))
    assert [name.split("_")[0] for name in checkpoints] == ["epoch-01"]


def test_resume_continues_epochs_and_appends_log(data, trained, tmp_path):
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    with open(os.path.join(trained, "training_log.csv"), encoding="utf-8") as file:
        old_log = file.read()
    (resumed / "training_log.csv").write_text(old_log, encoding="utf-8")
    args = _train_args(data, resumed, "--resume", os.path.join(trained, "model.keras"))
    assert cli.main(args) == 0
    assert _log_epochs(resumed) == [0, 1]
    assert (resumed / "training_log.csv").read_text(encoding="utf-8").startswith(old_log)
    assert "epoch-02" in os.listdir(resumed / "checkpoints")[0]


def test_evaluate_prints_ap_per_class_and_map(data, trained, tmp_path, capsys):
    output_csv = tmp_path / "ap.csv"
    args = [
        "evaluate", os.path.join(trained, "model.keras"),
        "--data-format", "coco",
        "--images-dir", data["images_dir"],
        "--labels", data["coco_val"],
        "--ap-mode", "voc2010",
        "--confidence", "0.3",  # fewer boxes for the NMS of the untrained model: faster
        "--output-csv", str(output_csv),
    ]  # fmt: skip
    assert cli.main(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[:2] for line in lines[:5]] == [["class", str(i)] for i in range(1, 6)]
    assert lines[-1].startswith("mAP")
    with open(output_csv, encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert [row["class"] for row in rows] == ["1", "2", "3", "4", "5", "mAP"]
    aps = [float(row["ap"]) for row in rows]
    assert all(0.0 <= ap <= 1.0 for ap in aps)
    assert aps[-1] == pytest.approx(sum(aps[:-1]) / 5, abs=1e-5)


def test_predict_writes_pngs_and_detections_csv(data, trained, tmp_path):
    image = os.path.join(data["images_dir"], "val_000000.jpg")
    output_dir = tmp_path / "pred"
    args = ["predict", os.path.join(trained, "model.keras"), image, "--confidence", "0.2"]
    assert cli.main([*args, "--output-dir", str(output_dir)]) == 0
    assert sorted(os.listdir(output_dir)) == ["detections.csv", "val_000000.png"]
    with open(output_dir / "detections.csv", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        assert tuple(reader.fieldnames) == cli.DETECTION_COLUMNS
        rows = list(reader)
    assert all(row["image"] == image for row in rows)  # the path as given
    assert all(float(row["confidence"]) >= 0.2 for row in rows)
    assert all(1 <= int(row["class_id"]) <= 5 for row in rows)


def _sorted_rows(labels):
    rows = np.asarray(labels, dtype=np.float64).reshape(-1, 5)
    return rows[np.lexsort(rows.T[::-1])]


def test_voc_and_coco_sources_give_the_csv_boxes(data):
    names = ("car", "truck", "pedestrian", "bicyclist", "traffic_light")
    sources = {
        "csv": setup.DataSource("csv", data["images_dir"], data["labels_train"]),
        "voc": setup.DataSource(
            "voc", data["images_dir"], data["image_set_train"], data["annotations_dir"], names
        ),
        "coco": setup.DataSource("coco", data["images_dir"], data["coco_train"]),
    }
    boxes = {}
    for key, source in sources.items():
        dataset = setup.load_dataset(source, n_classes=5)
        boxes[key] = {
            os.path.basename(name): _sorted_rows(labels)
            for name, labels in zip(dataset.filenames, dataset.labels, strict=True)
            if len(labels)
        }
    assert sorted(boxes["voc"]) == sorted(boxes["csv"]) == sorted(boxes["coco"])
    for name, expected in boxes["csv"].items():
        np.testing.assert_allclose(boxes["voc"][name], expected)
        np.testing.assert_allclose(boxes["coco"][name], expected)


def _bad_inputs(data, tmp_path):
    labels = data["labels_train"]
    return {
        "missing images folder": (
            ["--images-dir", str(tmp_path / "nope"), "--train-labels", labels],
            "images folder does not exist",
        ),
        "missing labels": (
            ["--images-dir", data["images_dir"], "--train-labels", str(tmp_path / "x.csv")],
            "labels file does not exist",
        ),
        "class id above n_classes": (
            ["--images-dir", data["images_dir"], "--train-labels", labels, "--n-classes", "2"],
            "contains class id 3, but --n-classes is 2",
        ),
    }


@pytest.mark.parametrize(
    "case", ["missing images folder", "missing labels", "class id above n_classes"]
)
def test_bad_input_gives_one_line_and_exit_code_2(case, data, tmp_path, capsys):
    args, expected = _bad_inputs(data, tmp_path)[case]
    code = cli.main(["train", *args, "--output-dir", str(tmp_path / "out"), *TINY_TRAINING])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [err.strip()]
    assert expected in err and err.startswith("ssd-keras: error: ")


def test_unwritable_output_folder_is_reported(data, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("", encoding="utf-8")
    args = ["--images-dir", data["images_dir"], "--train-labels", data["labels_train"]]
    code = cli.main(["train", *args, "--output-dir", str(blocker / "out"), *TINY_TRAINING])
    err = capsys.readouterr().err
    assert code == 2
    assert f"cannot write to output folder {blocker / 'out'}" in err


def test_predict_and_evaluate_report_missing_model(data, tmp_path, capsys):
    missing = str(tmp_path / "missing.keras")
    image = os.path.join(data["images_dir"], "val_000000.jpg")
    assert cli.main(["predict", missing, image, "--output-dir", str(tmp_path / "p")]) == 2
    args = ["--images-dir", data["images_dir"], "--labels", data["labels_val"]]
    assert cli.main(["evaluate", missing, *args]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"ssd-keras: error: model file does not exist: {missing}"] * 2


def test_subprocess_bad_input_has_no_traceback(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("frame,xmin,xmax,ymin,ymax,class_id\n", encoding="utf-8")
    command = [sys.executable, "-m", "ssd_app.cli", "train", "--images-dir",
               str(tmp_path / "missing"), "--train-labels", str(labels),
               "--output-dir", str(tmp_path / "out")]  # fmt: skip
    result = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"ssd-keras: error: images folder does not exist: {tmp_path / 'missing'}"
    ]


def test_debug_flag_shows_the_traceback(tmp_path, capsys):
    args = ["train", "--images-dir", str(tmp_path / "nope"), "--train-labels", "x.csv"]
    assert cli.main([*args, "--output-dir", str(tmp_path / "out"), "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert err.strip().splitlines()[-1].startswith("ssd-keras: error: images folder")


def test_ssd300_configuration_matches_its_encoder():
    from ssd_app import _cli_train

    preset = setup.MODEL_PRESETS["ssd300"]
    model = _cli_train.build_model(preset, n_classes=20, learning_rate=0.001)
    encoder = _cli_train.input_encoder(preset, model)
    labels = [np.array([[7, 50.0, 60.0, 150.0, 200.0]])]
    encoded = encoder(labels)
    assert encoded.shape[1:] == tuple(model.outputs[0].shape[1:]) == (8732, 33)
    np.testing.assert_array_equal(encoded[0, :, :21].sum(axis=-1), 1.0)  # one-hot classes
    assert encoded[0, :, 7].sum() >= 1  # the box of class 7 is matched to an anchor


@pytest.mark.parametrize("flag", ["--epochs", "--batch-size", "--n-classes"])
def test_non_positive_numbers_are_rejected_by_the_parser(flag, capsys):
    args = ["train", "--images-dir", "x", "--train-labels", "y", "--output-dir", "z", flag, "0"]
    with pytest.raises(SystemExit) as exit_info:
        cli.main(args)
    assert exit_info.value.code == 2
    assert f"argument {flag}: expected a positive integer, got '0'" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# CSV headers are read by name


def _write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def _reordered_labels(data, path, header):
    """The training labels rewritten with the columns in the order of `header`."""
    with open(data["labels_train"], encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    source = {"image_name": "frame", "filename": "frame", "image": "frame"}
    keys = [source.get(h.strip().lower(), h.strip().lower()) for h in header]
    return _write_csv(path, header, [[row.get(key, "x") for key in keys] for row in rows])


@pytest.mark.parametrize(
    "header",
    [
        ["frame", "xmin", "ymin", "xmax", "ymax", "class_id"],
        ["class_id", "ymax", "xmax", "ymin", "xmin", "image_name"],
        ["notes", "Filename", " XMIN ", "xmax", "ymin", "ymax", "class_id", "score"],
    ],
)
def test_csv_columns_are_read_by_header_name(data, tmp_path, header):
    expected = setup.load_dataset(
        setup.DataSource("csv", data["images_dir"], data["labels_train"]), 5
    )
    path = _reordered_labels(data, tmp_path / "labels.csv", header)
    dataset = setup.load_dataset(setup.DataSource("csv", data["images_dir"], path), 5)
    assert dataset.filenames == expected.filenames
    for boxes, reference in zip(dataset.labels, expected.labels, strict=True):
        np.testing.assert_array_equal(boxes, reference)


def test_csv_input_format_follows_the_header(tmp_path):
    path = _write_csv(
        tmp_path / "a.csv", ["id", "frame", "xmin", "ymin", "xmax", "ymax", "class_id", "x"], []
    )
    assert setup.csv_input_format(path) == [
        "ignored", "image_name", "xmin", "ymin", "xmax", "ymax", "class_id",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("frame,x1,y1,x2,y2,class_id\n", "the header 'frame,x1,y1,x2,y2,class_id' (no xmin column"),
        ("frame,xmin,xmax,ymin,ymax,class_id,xmin\n", "(more than one xmin column)"),
        ("image,frame,xmin,xmax,ymin,ymax,class_id\n", "(more than one image_name column)"),
        ("", "is empty: it needs a header line"),
    ],
)  # fmt: skip
def test_unreadable_csv_header_is_one_error_line(data, tmp_path, capsys, content, expected):
    labels = tmp_path / "labels.csv"
    labels.write_text(content, encoding="utf-8")
    args = ["--images-dir", data["images_dir"], "--train-labels", str(labels)]
    assert cli.main(["train", *args, "--output-dir", str(tmp_path / "out"), *TINY_TRAINING]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"ssd-keras: error: labels file {labels}")
    assert expected in err
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------------------------
# evaluate


def test_evaluate_without_ground_truth_boxes_is_an_error(data, trained, tmp_path, capsys):
    labels = _write_csv(
        tmp_path / "empty.csv", ["frame", "xmin", "xmax", "ymin", "ymax", "class_id"], []
    )
    output_csv = tmp_path / "ap.csv"
    args = ["evaluate", os.path.join(trained, "model.keras"), "--images-dir", data["images_dir"]]
    assert cli.main([*args, "--labels", labels, "--output-csv", str(output_csv)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"ssd-keras: error: labels {labels} hold no ground-truth boxes (0 images): there is "
        "nothing to evaluate against\n"
    )
    assert not output_csv.exists()


def test_evaluate_names_the_classes(data, trained, tmp_path, capsys):
    names = "car,truck,pedestrian,bicyclist,traffic light"
    output_csv = tmp_path / "ap.csv"
    args = [
        "evaluate", os.path.join(trained, "model.keras"), "--images-dir", data["images_dir"],
        "--labels", data["labels_val"], "--confidence", "0.5", "--class-names", names,
        "--output-csv", str(output_csv),
    ]  # fmt: skip
    assert cli.main(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.rsplit(None, 1)[0] for line in lines] == [*names.split(","), "mAP"]
    with open(output_csv, encoding="utf-8") as file:
        assert [row["class"] for row in csv.DictReader(file)] == [*names.split(","), "mAP"]


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_class_names_must_match_the_class_count(data, trained, tmp_path, capsys, command):
    model = os.path.join(trained, "model.keras")
    if command == "evaluate":
        args = [model, "--images-dir", data["images_dir"], "--labels", data["labels_val"]]
    else:
        args = [model, data["images_dir"], "--output-dir", str(tmp_path / "out")]
    assert cli.main([command, *args, "--class-names", "car,truck"]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"ssd-keras: error: --class-names gives 2 names, but the model {model} has 5 classes\n"
    )
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------------------------
# Threshold arguments


@pytest.mark.parametrize("command", ["evaluate", "predict"])
@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        ("--iou-threshold", "nan", "expected an IoU in (0, 1], got 'nan'"),
        ("--iou-threshold", "-1", "expected an IoU in (0, 1], got '-1'"),
        ("--iou-threshold", "0", "expected an IoU in (0, 1], got '0'"),
        ("--iou-threshold", "1.5", "expected an IoU in (0, 1], got '1.5'"),
        ("--iou-threshold", "inf", "expected an IoU in (0, 1], got 'inf'"),
        ("--confidence", "nan", "expected a confidence in [0, 1], got 'nan'"),
        ("--confidence", "2", "expected a confidence in [0, 1], got '2'"),
        ("--confidence", "-0.1", "expected a confidence in [0, 1], got '-0.1'"),
        ("--confidence", "x", "expected a confidence in [0, 1], got 'x'"),
    ],
)
def test_thresholds_outside_their_range_are_refused(command, flag, value, expected, capsys):
    args = {
        "evaluate": ["evaluate", "m.keras", "--images-dir", "i", "--labels", "l.csv"],
        "predict": ["predict", "m.keras", "img.jpg", "--output-dir", "o"],
    }[command]
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*args, f"{flag}={value}"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert (
        err == f"ssd-keras: error: argument {flag}: {expected} (see 'ssd-keras {command} --help')\n"
    )


def test_thresholds_at_the_ends_of_their_range_are_accepted():
    args = ["evaluate", "m.keras", "--images-dir", "i", "--labels", "l.csv"]
    parsed = cli.build_parser().parse_args([*args, "--iou-threshold", "1", "--confidence", "0"])
    assert (parsed.iou_threshold, parsed.confidence) == (1.0, 0.0)
    parsed = cli.build_parser().parse_args([*args, "--iou-threshold", "1e-3", "--confidence", "1"])
    assert (parsed.iou_threshold, parsed.confidence) == (0.001, 1.0)


# ----------------------------------------------------------------------------------------------
# predict


def test_drawing_names_are_unique_and_deterministic():
    paths = ["a.jpg", "b/a.jpg", "a.jpeg", "a_2.jpg", "A.png", "c/x.bmp"]
    assert cli.drawing_names(paths) == [
        "a.png",
        "a_2.png",
        "a_3.png",
        "a_2_2.png",
        "A_4.png",
        "x.png",
    ]


def test_predict_keeps_every_image_with_the_same_stem(data, trained, tmp_path, capsys):
    import shutil

    source = os.path.join(data["images_dir"], "val_000000.jpg")
    (tmp_path / "b").mkdir()
    (tmp_path / "folder").mkdir()
    for name in ("a.jpg", "b/a.jpg", "a.jpeg", "folder/x.jpg"):
        shutil.copy(source, tmp_path / name)
    (tmp_path / "folder" / "broken.jpg").write_bytes(b"not an image")
    inputs = [str(tmp_path / name) for name in ("a.jpg", "b/a.jpg", "a.jpeg", "a.jpg", "folder")]
    output_dir = tmp_path / "pred"
    args = [
        "predict",
        os.path.join(trained, "model.keras"),
        *inputs,
        "--output-dir",
        str(output_dir),
    ]
    assert cli.main([*args, "--confidence", "1"]) == 0  # no detections at all
    err = capsys.readouterr().err.splitlines()
    broken = tmp_path / "folder" / "broken.jpg"
    assert len(err) == 1 and err[0].startswith(f"ssd-keras: warning: skipping {broken}: ")
    expected = ["a.png", "a_2.png", "a_3.png", "detections.csv", "x.png"]
    assert sorted(os.listdir(output_dir)) == expected
    with open(output_dir / "detections.csv", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    images = [str(tmp_path / n) for n in ("a.jpg", "b/a.jpg", "a.jpeg", "folder/x.jpg")]
    assert rows[1:] == [[image, "", "", "", "", "", ""] for image in images]


def test_predict_with_no_readable_image_writes_nothing(trained, tmp_path, capsys):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    output_dir = tmp_path / "pred"
    args = [
        "predict",
        os.path.join(trained, "model.keras"),
        str(broken),
        "--output-dir",
        str(output_dir),
    ]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == "ssd-keras: error: none of the 1 images could be read"
    assert not output_dir.exists()


# ----------------------------------------------------------------------------------------------
# Model files, resuming, the training log


def test_resume_from_the_h5_model(data, trained, tmp_path):
    import keras

    resumed = tmp_path / "resumed"
    resumed.mkdir()
    (resumed / "training_log.csv").write_bytes((trained / "training_log.csv").read_bytes())
    args = _train_args(data, resumed, "--resume", os.path.join(trained, "model.h5"))
    assert cli.main(args) == 0
    assert _log_epochs(resumed) == [0, 1]
    model = keras.models.load_model(resumed / "model.keras")
    assert int(model.optimizer.iterations.numpy()) == 2  # one step before, one step now


@pytest.mark.parametrize("name", ["model.keras", "model.h5"])
def test_truncated_model_file_is_reported_as_corrupt(data, trained, tmp_path, capsys, name):
    corrupt = tmp_path / name
    corrupt.write_bytes((trained / name).read_bytes()[:5000])
    image = os.path.join(data["images_dir"], "val_000000.jpg")
    output_dir = tmp_path / "pred"
    assert cli.main(["predict", str(corrupt), image, "--output-dir", str(output_dir)]) == 2
    assert not output_dir.exists()
    err = capsys.readouterr().err
    assert err.startswith(f"ssd-keras: error: model file {corrupt} is corrupt: ")
    assert err.count("\n") == 1 and "not found" not in err.lower()


@pytest.mark.parametrize(
    ("log", "expected"),
    [
        ("epoch,loss\n0,1.5\n1", "is corrupt at line 3 ('1')"),
        ("epoch,loss\nx,1.5\n", "is corrupt at line 2 ('x,1.5')"),
        ("loss\n1.5\n", "is corrupt: no epoch column"),
    ],
)
def test_corrupt_training_log_is_reported_on_resume(data, trained, tmp_path, capsys, log, expected):
    (tmp_path / "training_log.csv").write_text(log, encoding="utf-8")
    args = _train_args(data, tmp_path, "--resume", os.path.join(trained, "model.keras"))
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"ssd-keras: error: training log {tmp_path / 'training_log.csv'} {expected}"
    )
    assert not (tmp_path / "model.keras").exists()


def test_epochs_in_log(tmp_path):
    from ssd_app._cli_train import epochs_in_log

    assert epochs_in_log(str(tmp_path)) == 0
    (tmp_path / "training_log.csv").write_text("", encoding="utf-8")
    assert epochs_in_log(str(tmp_path)) == 0
    (tmp_path / "training_log.csv").write_text("epoch,loss\n0,2\n1,NA\n", encoding="utf-8")
    assert epochs_in_log(str(tmp_path)) == 2


def test_full_disk_leaves_no_checkpoint_under_a_final_name(data, tmp_path, monkeypatch, capsys):
    import errno

    import keras

    def save_half_then_fail(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as file:
            file.write(b"PK\x03\x04 partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(keras.Model, "save", save_half_then_fail)
    assert cli.main(_train_args(data, tmp_path)) == 2
    err = capsys.readouterr().err
    checkpoint = tmp_path / "checkpoints" / "epoch-01_val_loss-"
    assert err.startswith(f"ssd-keras: error: cannot write {checkpoint}")
    assert err.endswith(".keras: No space left on device; nothing was saved there\n")
    assert os.listdir(tmp_path / "checkpoints") == []
    assert not (tmp_path / "model.keras").exists()


# ----------------------------------------------------------------------------------------------
# Models giving NaN


@pytest.fixture(scope="module")
def nan_models(trained, tmp_path_factory):
    """A training-mode and an inference-mode (decoding in the graph) model with NaN weights."""

    folder = tmp_path_factory.mktemp("nan")
    model = setup.load_model(os.path.join(trained, "model.keras"))
    layer = model.get_layer("boxes7")
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel, np.full_like(bias, np.nan)])
    inference = setup.MODEL_PRESETS["ssd7"].build_model(mode="inference", n_classes=5)
    inference.set_weights(model.get_weights())
    paths = {"training": folder / "nan.keras", "inference": folder / "nan_inference.keras"}
    model.save(paths["training"])
    inference.save(paths["inference"])
    return paths


@pytest.mark.parametrize("mode", ["training", "inference"])
def test_model_giving_nan_is_reported(data, nan_models, tmp_path, capsys, mode):
    model = str(nan_models[mode])
    image = os.path.join(data["images_dir"], "val_000000.jpg")
    output_dir = tmp_path / "pred"
    assert cli.main(["predict", model, image, "--output-dir", str(output_dir)]) == 2
    args = ["--images-dir", data["images_dir"], "--labels", data["labels_val"]]
    assert cli.main(["evaluate", model, *args]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    for line in lines:
        assert line.startswith(f"ssd-keras: error: model {model} gives NaN or infinite values")
    assert not output_dir.exists()


# ----------------------------------------------------------------------------------------------
# What a user sees in a terminal


def _run_cli(args, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    code = (
        "import sys\nfrom ssd_app import cli\n"
        f"code = cli.main({args!r})\n"
        "print('keras imported' if 'keras' in sys.modules else 'keras not imported')\n"
        "sys.exit(code)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


def test_bad_labels_fail_before_keras_is_imported(data, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("frame,x1,y1,x2,y2,class_id\n", encoding="utf-8")
    args = ["train", "--images-dir", data["images_dir"], "--train-labels", str(labels),
            "--output-dir", str(tmp_path / "out")]  # fmt: skip
    result = _run_cli(args, tmp_path)
    assert result.returncode == 2
    assert result.stdout == "keras not imported\n"
    assert len(result.stderr.splitlines()) == 1


def test_error_after_loading_keras_is_the_only_stderr_line(data, trained, tmp_path):
    model = os.path.join(trained, "model.keras")
    args = ["predict", model, data["images_dir"], "--output-dir", str(tmp_path / "o"),
            "--class-names", "a"]  # fmt: skip
    result = _run_cli(args, tmp_path)
    assert result.returncode == 2
    assert result.stdout == "keras imported\n"
    assert result.stderr.splitlines() == [
        f"ssd-keras: error: --class-names gives 1 names, but the model {model} has 5 classes"
    ]


def test_subprocess_bad_argument_is_one_line():
    command = [sys.executable, "-m", "ssd_app.cli", "predict", "m.keras", "x.jpg",
               "--output-dir", "o", "--iou-threshold", "nan"]  # fmt: skip
    result = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert result.stderr == (
        "ssd-keras: error: argument --iou-threshold: expected an IoU in (0, 1], got 'nan' "
        "(see 'ssd-keras predict --help')\n"
    )


def test_predict_and_evaluate_decode_pixel_anchor_models_with_their_own_settings(
    data, trained, tmp_path, capsys
):
    """A model built with the builders' default `normalize_coords=False` (anchors in pixels)
    holding the same weights as the normalised one predicts the same boxes and the same mAP:
    the decoding follows each model's own setting instead of assuming normalised anchors."""
    normalised = setup.load_model(os.path.join(trained, "model.keras"))
    pixels = setup.MODEL_PRESETS["ssd7"].build_model(n_classes=5, normalize_coords=False)
    pixels.set_weights(normalised.get_weights())
    pixel_path = str(tmp_path / "pixels.keras")
    pixels.save(pixel_path)
    images = sorted(n for n in os.listdir(data["images_dir"]) if n.startswith("val_"))[:4]
    paths = [os.path.join(data["images_dir"], name) for name in images]
    tables = {}
    for name, model in (
        ("normalised", os.path.join(trained, "model.keras")),
        ("pixels", pixel_path),
    ):
        output_dir = tmp_path / name
        args = ["predict", model, *paths, "--confidence", "0.2", "--output-dir", str(output_dir)]
        assert cli.main(args) == 0
        with open(output_dir / "detections.csv", encoding="utf-8") as file:
            tables[name] = list(csv.DictReader(file))
    assert sum(row["class_id"] != "" for row in tables["normalised"]) > 0
    assert len(tables["pixels"]) == len(tables["normalised"])
    for mine, theirs in zip(tables["pixels"], tables["normalised"], strict=True):
        assert mine["image"] == theirs["image"] and mine["class_id"] == theirs["class_id"]
        for column in ("confidence", "xmin", "ymin", "xmax", "ymax"):
            if theirs[column]:
                assert float(mine[column]) == pytest.approx(float(theirs[column]), abs=0.02)
    capsys.readouterr()
    maps = []
    for model in (os.path.join(trained, "model.keras"), pixel_path):
        args = ["evaluate", model, "--images-dir", data["images_dir"],
                "--labels", data["labels_val"], "--confidence", "0.3"]  # fmt: skip
        assert cli.main(args) == 0
        maps.append(float(capsys.readouterr().out.strip().splitlines()[-1].split()[-1]))
    assert maps[1] == pytest.approx(maps[0], abs=1e-3)
