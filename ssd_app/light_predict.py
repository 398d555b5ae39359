"""Run an exported SSD detector (`.onnx` or `.tflite`) with NumPy, OpenCV and its runtime only.

The artefacts written by `models.export.export_model` (`ssd-keras export`) decode inside: they
take float32 images `(batch, H, W, 3)` (RGB, 0-255) and return `(batch, top_k, 6)` rows
`[class_id, confidence, xmin, ymin, xmax, ymax]` (`corners`, pixels of the model input), zero
rows last. This module resizes images of any size to the model input, runs the artefact with
ONNX Runtime (`onnxruntime`) or the LiteRT interpreter (`ai_edge_litert`) and scales the boxes
back to each original image, as `models.prediction.predict_detections` does for Keras models.

It imports NumPy and OpenCV, plus the one runtime the file needs, and neither Keras nor
TensorFlow, so a deployment can copy this file alone.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

EXPORTED_SUFFIXES = (".onnx", ".tflite")
ROW_WIDTH = 6  # [class_id, confidence, xmin, ymin, xmax, ymax]
CLASS_ID, CONFIDENCE = 0, 1
X_COLUMNS, Y_COLUMNS = [2, 4], [3, 5]


def is_exported_model(path: str) -> bool:
    """Whether `path` names an exported detector this module runs (`.onnx` or `.tflite`)."""
    return os.fspath(path).lower().endswith(EXPORTED_SUFFIXES)


class ExportedDetector:
    """An exported SSD detector loaded into its runtime.

    Args:
        path: An `.onnx` file (run by ONNX Runtime on the CPU) or a `.tflite` file (run by the
            LiteRT interpreter).
        num_threads: CPU threads of the runtime; None leaves its default.

    Attributes:
        input_size: `(height, width)` of the model input, in pixels.

    Raises:
        ValueError: For another file type or a file whose input is not `(batch, H, W, 3)` with
            a fixed `H` and `W`.
        OSError: If the file does not exist.
    """

    def __init__(self, path: str, num_threads: int | None = None) -> None:
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise OSError(f"model file {path} does not exist")
        if path.lower().endswith(".onnx"):
            self._runner = _OnnxRunner(path, num_threads)
        elif path.lower().endswith(".tflite"):
            self._runner = _LiteRTRunner(path, num_threads)
        else:
            raise ValueError(f"model {path} must be an .onnx or .tflite file")
        shape = self._runner.input_shape
        if len(shape) != 4 or not all(isinstance(v, int) and v > 0 for v in shape[1:3]):
            raise ValueError(
                f"model {path} must take images (batch, height, width, 3) of a fixed size, but "
                f"its input has shape {tuple(shape)}"
            )
        self.path = path
        self.input_size = (int(shape[1]), int(shape[2]))

    def detect(self, batch: np.ndarray) -> np.ndarray:
        """Runs the detector on images already at the input size.

        Args:
            batch: `(batch, H, W, 3)` images (any numeric dtype, 0-255).

        Returns:
            Float32 array `(batch, top_k, 6)` of detection rows (pixels of the model input).
        """
        output = np.asarray(self._runner(np.ascontiguousarray(batch, dtype=np.float32)))
        if output.ndim != 3 or output.shape[-1] != ROW_WIDTH:
            raise ValueError(
                f"model {self.path} must output detections (batch, top_k, 6), got shape "
                f"{output.shape}; export it with `ssd-keras export`"
            )
        return output


class _OnnxRunner:
    def __init__(self, path: str, num_threads: int | None) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if num_threads is not None:
            options.intra_op_num_threads = num_threads
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(
            path, options, providers=["CPUExecutionProvider"]
        )
        first = self.session.get_inputs()[0]
        self.name = first.name
        self.input_shape = [v if isinstance(v, int) else None for v in first.shape]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.name: batch})[0]


class _LiteRTRunner:
    def __init__(self, path: str, num_threads: int | None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=path, num_threads=num_threads)
        detail = self.interpreter.get_input_details()[0]
        self.index = detail["index"]
        self.output_index = self.interpreter.get_output_details()[0]["index"]
        self.input_shape = [int(v) for v in detail["shape"]]
        self.batch = None

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        if self.batch != len(batch):  # the interpreter's tensors are sized per batch size
            self.interpreter.resize_tensor_input(self.index, batch.shape)
            self.interpreter.allocate_tensors()
            self.batch = len(batch)
        self.interpreter.set_tensor(self.index, batch)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output_index).copy()


def predict_exported(
    detector: ExportedDetector,
    images: Sequence[np.ndarray],
    batch_size: int = 8,
    confidence_thresh: float | None = None,
) -> list[np.ndarray]:
    """Detections of an exported detector on images of any size, in pixels of each image.

    Every image is resized to the input size (bilinear, `cv2.INTER_LINEAR`), the images are run
    `batch_size` at a time, and the boxes are scaled back to each image's own size. Rows at or
    above `confidence_thresh` are kept; the thresholds baked in at export (confidence, NMS IoU,
    `top_k`) have already been applied, so a lower threshold than the exported one finds no more
    boxes.

    Args:
        detector: The `ExportedDetector`.
        images: `(H, W, 3)` RGB images (uint8 or float, any `H` and `W`).
        batch_size: Images per runtime call.
        confidence_thresh: Minimum confidence; None keeps every exported row.

    Returns:
        One float64 array `(k, 6)` per image, rows `[class_id, confidence, xmin, ymin, xmax,
        ymax]` (`corners`, pixels of that image), by descending confidence.

    Raises:
        ValueError: For an image that is not `(H, W, 3)` or a non-positive `batch_size`.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
    height, width = detector.input_size
    results = []
    for start in range(0, len(images), batch_size):
        chunk = [np.asarray(image) for image in images[start : start + batch_size]]
        for position, image in enumerate(chunk):
            if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
                raise ValueError(
                    f"`images[{start + position}]` must be an (H, W, 3) image, got shape "
                    f"{image.shape}."
                )
        batch = np.stack([_resized(image, height, width) for image in chunk])
        for image, found in zip(chunk, detector.detect(batch), strict=True):
            found = found.astype(np.float64)
            keep = found[:, CLASS_ID] != 0  # padding rows have class 0
            if confidence_thresh is not None:
                keep &= found[:, CONFIDENCE] >= confidence_thresh
            rows = found[keep].reshape(-1, ROW_WIDTH)
            rows = rows[np.argsort(-rows[:, CONFIDENCE], kind="stable")]
            rows[:, X_COLUMNS] *= image.shape[1] / width
            rows[:, Y_COLUMNS] *= image.shape[0] / height
            results.append(rows)
    return results


def _resized(image: np.ndarray, height: int, width: int) -> Any:
    if image.shape[:2] == (height, width):
        return image
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
