"""Tests of the ``ssd-keras`` command line (``misc_utils.cli``) on a tiny synthetic dataset."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import numpy as np
import pytest

from data_generator.synthetic_traffic import generate_dataset
from misc_utils import _cli_setup as setup
from misc_utils import cli

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
    assert all(row["image"] == "val_000000.jpg" for row in rows)
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
    command = [sys.executable, "-m", "misc_utils.cli", "train", "--images-dir",
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
    from misc_utils import _cli_train

    config = setup.MODEL_CONFIGS["ssd300"]
    model = _cli_train.build_model(config, n_classes=20, learning_rate=0.001)
    encoder = _cli_train.input_encoder(config, model, n_classes=20)
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
