"""Tests of the main job `ssd_app.demo` (`make demo`) with a tiny dataset and budget."""

from __future__ import annotations

import csv
import json
import os
import re

import keras
import numpy as np
import pandas as pd
import pytest

from ssd_app import _cli_setup as setup
from ssd_app import cli, demo

TINY = (
    "--n-train", "6", "--n-val", "3", "--batch-size", "2", "--steps-per-epoch", "2",
    "--val-loss-images", "2", "--n-predictions", "2", "--workers", "1", "--seed", "3",
)  # fmt: skip


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One complete demo run of 2 epochs x 2 steps; returns its output folder and stdout."""
    output_dir = tmp_path_factory.mktemp("demo") / "out"
    code = demo.main(["--output-dir", str(output_dir), "--epochs", "2", *TINY])
    assert code == 0
    return output_dir


def test_output_folder_has_every_file(finished_run):
    names = set(os.listdir(finished_run))
    expected = {
        "ssd7.keras", "ssd7.h5", "training_log.csv", "loss.png", "average_precisions.csv",
        "precision_recall.png", "summary.json", "predictions", "data",
    }  # fmt: skip
    assert expected <= names
    assert not [name for name in names if name.endswith(".partial") or ".partial." in name]
    assert len(os.listdir(finished_run / "predictions")) == 2


def test_log_has_one_row_per_epoch_with_learning_rate(finished_run):
    log = pd.read_csv(finished_run / "training_log.csv")
    assert list(log["epoch"]) == [0, 1]
    assert {"loss", "val_loss", "learning_rate"} <= set(log.columns)
    assert np.all(np.isfinite(log[["loss", "val_loss"]].to_numpy()))
    # Four steps of a warm-up + cosine schedule: the last rate is below the peak.
    assert log["learning_rate"].iloc[-1] < demo.DEFAULT_LEARNING_RATE


def test_average_precision_table(finished_run):
    with open(finished_run / "average_precisions.csv", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert [row["class"] for row in rows] == [
        "car", "truck", "pedestrian", "bicyclist", "traffic_light", "mAP",
    ]  # fmt: skip
    values = [float(row["average_precision"]) for row in rows]
    assert all(0.0 <= value <= 1.0 for value in values)
    assert values[-1] == pytest.approx(np.mean(values[:-1]), abs=1e-3)
    summary = json.loads((finished_run / "summary.json").read_text())
    assert summary["evaluation"]["mAP"] == pytest.approx(values[-1], abs=1e-3)
    assert summary["training"]["steps"] == 4
    assert summary["training"]["images_seen"] == 8
    assert summary["training"]["epochs"] == 2


@pytest.mark.parametrize("name", ["ssd7.keras", "ssd7.h5"])
def test_saved_models_load_and_match_each_other(finished_run, name):
    model = keras.models.load_model(finished_run / name)
    reference = keras.models.load_model(finished_run / "ssd7.keras")
    x = np.random.default_rng(0).uniform(0, 255, (1, 300, 480, 3)).astype("float32")
    assert model.dtype_policy.name == "float32"
    assert model.output_shape == (None, 11692, 18)
    np.testing.assert_allclose(
        model.predict_on_batch(x), reference.predict_on_batch(x), rtol=1e-5, atol=1e-5
    )


def test_keras_file_keeps_the_optimizer_state(finished_run):
    model = keras.models.load_model(finished_run / "ssd7.keras")
    assert int(model.optimizer.iterations.numpy()) == 4  # resumable where training stopped
    moments = [v for v in model.optimizer.variables if "momentum" in v.path]
    assert moments and any(np.any(v.numpy() != 0) for v in moments)


def test_dataset_is_reused(finished_run, capsys):
    data_dir = finished_run / "data"
    stamp = json.loads((data_dir / "dataset.json").read_text())
    assert stamp["request"] == {"seed": 3, "n_train": 6, "n_val": 3}
    result = demo.prepare_dataset(str(data_dir), 6, 3, 3, workers=1)
    assert "Reusing" in capsys.readouterr().out
    assert result == stamp["result"]


def test_minutes_budget_stops_training(tmp_path, capsys):
    # A budget far below one step: training stops after the first batch.
    argv = ["demo", "--output-dir", str(tmp_path), "--minutes", "0.0001", *TINY]
    extra = ["--augmentation", "tutorial", "--precision", "float32", "--schedule", "constant"]
    code = cli.main([*argv, *extra])
    assert code == 0
    out = capsys.readouterr().out
    assert re.search(r"^Epoch 1: \d+% spent \(0\.0 of 0\.0 min\)$", out, flags=re.MULTILINE)
    assert "/1000000" not in out  # the open-ended epoch count given to fit is not shown
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["training"]["augmentation"] == "tutorial"
    assert summary["training"]["precision"] == "float32"
    log = pd.read_csv(tmp_path / "training_log.csv")
    # constant: the peak
    assert log["learning_rate"].tolist() == [pytest.approx(demo.DEFAULT_LEARNING_RATE)]
    assert summary["training"]["steps"] == 1
    assert summary["training"]["epochs"] == 1


def test_unwritable_output_folder_is_one_error_line(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    code = demo.main(["--output-dir", str(blocker / "out"), "--epochs", "1", *TINY])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("demo: error: cannot write to output folder")
    assert str(blocker / "out") in err[0]


@pytest.mark.parametrize(
    "argv",
    [["--minutes", "0"], ["--epochs", "0"], ["--minutes", "2", "--epochs", "3"]],
)
def test_bad_budget_is_rejected(argv, capsys):
    with pytest.raises(SystemExit) as raised:
        demo.build_parser().parse_args(argv)
    assert raised.value.code == 2
    assert "error" in capsys.readouterr().err


def test_precision_resolution(monkeypatch):
    monkeypatch.setattr(demo, "cpu_has_bfloat16", lambda: True)
    assert demo.resolve_precision("auto") == "mixed_bfloat16"
    monkeypatch.setattr(demo, "cpu_has_bfloat16", lambda: False)
    assert demo.resolve_precision("auto") == "float32"
    assert demo.resolve_precision("mixed_bfloat16") == "mixed_bfloat16"
    assert demo.resolve_precision("float32") == "float32"


def test_diverged_training_is_an_error():
    demo.check_finite_loss([3.0, 2.0], 10)  # fine
    demo.check_finite_loss([], 0)
    with pytest.raises(setup.CliError, match=r"diverged: the loss became nan within 7 steps"):
        demo.check_finite_loss([3.0, float("nan")], 7)
    with pytest.raises(setup.CliError, match="inf"):
        demo.check_finite_loss([float("inf")], 1)


def test_budget_callback_for_each_option():
    args = demo.build_parser().parse_args(["--epochs", "3", "--steps-per-epoch", "4"])
    epochs, budget = demo.budget_callback(args)
    assert (epochs, budget.total_steps, budget.seconds) == (3, 12, None)
    args = demo.build_parser().parse_args(["--minutes", "2.5", "--schedule", "constant"])
    epochs, budget = demo.budget_callback(args)
    assert budget.seconds == 150.0 and budget.total_steps is None and epochs >= 10**6
    assert (budget.warmup_fraction, budget.final_fraction) == (0.0, 1.0)
    _, budget = demo.budget_callback(demo.build_parser().parse_args([]))
    assert budget.seconds == 60.0 * demo.DEFAULT_MINUTES


def test_cli_resumes_training_from_the_demo_model(finished_run, tmp_path):
    data = json.loads((finished_run / "data" / "dataset.json").read_text())["result"]
    argv = [
        "train", "--images-dir", data["images_dir"], "--train-labels", data["labels_train"],
        "--output-dir", str(tmp_path), "--resume", str(finished_run / "ssd7.keras"),
        "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "2", "--verbose", "0",
    ]  # fmt: skip
    assert cli.main(argv) == 0
    resumed = keras.models.load_model(tmp_path / "model.keras")
    assert int(resumed.optimizer.iterations.numpy()) == 5  # the demo's 4 steps + 1
