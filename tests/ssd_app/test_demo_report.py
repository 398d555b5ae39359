"""`ssd_app._demo_report.save_prediction_image`: boxes drawn where the rows say."""

import numpy as np

from ssd_app import _demo_report


def test_prediction_image_draws_ground_truth_and_detection_rows(tmp_path, monkeypatch):
    drawn = []
    original = _demo_report._rectangle

    def recording(x, y, width, height, color, style, linewidth):
        drawn.append((style, (x, y, width, height)))
        return original(x, y, width, height, color, style, linewidth)

    monkeypatch.setattr(_demo_report, "_rectangle", recording)
    image = np.full((60, 80, 3), 255, np.uint8)
    truth = np.array([[1, 10, 5, 30, 25]])  # class_id, xmin, ymin, xmax, ymax
    rows = np.array([[2, 0.75, 40, 20, 70, 50]])  # class_id, confidence, xmin, ymin, xmax, ymax
    out = tmp_path / "p.png"
    _demo_report.save_prediction_image(image, truth, rows, ["bg", "car", "truck"], str(out))
    assert out.stat().st_size > 0
    assert drawn == [("--", (10.0, 5.0, 20.0, 20.0)), ("-", (40.0, 20.0, 30.0, 30.0))]


def test_prediction_image_without_boxes(tmp_path):
    out = tmp_path / "empty.png"
    image = np.zeros((30, 40, 3), np.uint8)
    _demo_report.save_prediction_image(image, np.zeros((0, 5)), np.zeros((0, 6)), ["bg"], str(out))
    assert out.stat().st_size > 0
