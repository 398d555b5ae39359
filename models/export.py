"""Export an SSD model with its decoding inside, for serving without this library.

`export_model(model_or_path, format, output)` writes one artefact that takes images
`(batch, H, W, 3)` (float32, RGB, 0-255, the model's own input size) and returns decoded
detections `(batch, top_k, 6)`: rows `[class_id, confidence, xmin, ymin, xmax, ymax]`
(`corners`, pixels of the model input), by descending confidence, zero rows last.

* `'saved_model'`: a TensorFlow SavedModel folder (endpoint `serve`), TensorFlow backend only.
* `'onnx'`: one `.onnx` file for ONNX Runtime (TensorFlow backend, through `tf2onnx`).
* `'litert'`: one `.tflite` file for the LiteRT interpreter (TensorFlow backend), optionally
  quantized (`'dynamic_range'`: int8 weights; `'float16'`: float16 weights).

A training-mode model gets a decoding layer appended, built from its own anchors and settings
(`models.prediction.model_decoding`); an inference-mode model keeps its own decoding layer
unless thresholds are given, in which case the layer is rebuilt on its raw predictions with
them. Every artefact is written under a temporary name beside `output` and renamed when
complete, so a failed export never leaves a valid-looking artefact behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from models.prediction import model_decoding
from ssd_encoder_decoder.output_layout import raw_predictions

FORMATS = ("saved_model", "onnx", "litert")
QUANTIZATIONS = ("none", "dynamic_range", "float16")
MODES = ("inference", "inference_fast")
SUFFIXES = {"onnx": ".onnx", "litert": ".tflite"}
BACKENDS = {
    "saved_model": ("tensorflow",),
    "onnx": ("tensorflow",),
    "litert": ("tensorflow",),
}
"""Keras backends each format is exported from (others are refused with a clear error)."""

REFUSALS = {
    ("jax", "saved_model"): "TensorFlow 2.21 cannot run the SavedModel that jax2tf writes",
    ("jax", "onnx"): "jax2onnx 0.17.1 fails on the decoding and on max pooling",
    ("jax", "litert"): "Keras 3.15 has no LiteRT export from JAX",
    ("torch", "saved_model"): "torch.export cannot trace the decoding's data-dependent loops",
    ("torch", "onnx"): "torch.export cannot trace the decoding's data-dependent loops",
    ("torch", "litert"): "torch.export cannot trace the decoding's data-dependent loops",
}
"""Why a (backend, format) pair outside `BACKENDS` is refused: the first failure of that route,
measured with Keras 3.15.1, JAX 0.10.2 and PyTorch 2.13.0 (docs/export.md, Backends)."""

DEFAULTS = {
    "confidence_thresh": 0.01,
    "iou_threshold": 0.45,
    "top_k": 200,
    "nms_max_output_size": 400,
}
"""Decoding settings of a training-mode model's appended layer when none are given (those of
`DecodeDetections`)."""


def detection_model(
    model: Any,
    confidence_thresh: float | None = None,
    iou_threshold: float | None = None,
    top_k: int | None = None,
    nms_max_output_size: int | None = None,
    mode: str | None = None,
) -> Any:
    """A one-input Keras model from images `(batch, H, W, 3)` to detections `(batch, top_k, 6)`.

    Args:
        model: An SSD model of this library in any mode.
        confidence_thresh: Minimum class score of a detection (None: the model's decoding
            layer's, or 0.01 for a training-mode model).
        iou_threshold: NMS IoU threshold (None: the layer's, or 0.45).
        top_k: Detections per image (None: the layer's, or 200).
        nms_max_output_size: Boxes kept per class by the NMS (None: the layer's, or 400).
        mode: `'inference'` (`DecodeDetections`) or `'inference_fast'`
            (`DecodeDetectionsFast`); None: the model's own mode, `'inference'` for a
            training-mode model.

    Returns:
        A `keras.Model` sharing the layers (and weights) of `model`.

    Raises:
        ValueError: For an unknown `mode`, a model whose anchors are not `centroids` (the only
            format the decoding layers read) or a model whose output cannot be decoded.
    """
    import keras

    from keras_layers.keras_layer_DecodeDetections import DecodeDetections
    from keras_layers.keras_layer_DecodeDetectionsFast import DecodeDetectionsFast
    from ssd_encoder_decoder.output_layout import decoding_layer

    if mode is not None and mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    settings = model_decoding(model)
    image = model.inputs[0]
    overrides = {
        "confidence_thresh": confidence_thresh,
        "iou_threshold": iou_threshold,
        "top_k": top_k,
        "nms_max_output_size": nms_max_output_size,
    }
    given = {key: value for key, value in overrides.items() if value is not None}
    if settings.mode != "training" and not given and mode in (None, settings.mode):
        return keras.Model(image, model.outputs[0], name=f"{model.name}_detections")
    if settings.coords != "centroids":
        raise ValueError(
            f"the model's anchors are in {settings.coords!r} format; the decoding layers only "
            "read 'centroids', so a model built with coords='centroids' is needed for export"
        )
    if settings.mode == "training":
        parameters = dict(DEFAULTS)
        target_mode = mode or "inference"
    else:
        parameters = decoding_layer(model).decoding_parameters()
        target_mode = mode or settings.mode
    parameters.update(given)
    layer = DecodeDetections if target_mode == "inference" else DecodeDetectionsFast
    decoder = layer(
        confidence_thresh=parameters["confidence_thresh"],
        iou_threshold=parameters["iou_threshold"],
        top_k=int(parameters["top_k"]),
        nms_max_output_size=int(parameters["nms_max_output_size"]),
        coords="centroids",
        normalize_coords=settings.normalize_coords,
        img_height=settings.img_height,
        img_width=settings.img_width,
        name="exported_decoding",
    )
    raw = raw_predictions(model)
    if raw is None:
        raise ValueError("the model's raw predictions cannot be found to decode them")
    return keras.Model(image, decoder(raw), name=f"{model.name}_detections")


def check_backend(format: str) -> None:
    """Raises `ValueError` naming the backend to use if the current Keras backend cannot
    export `format`."""
    import keras

    backend = keras.backend.backend()
    if backend not in BACKENDS[format]:
        allowed = " or ".join(BACKENDS[format])
        reason = REFUSALS.get((backend, format))
        because = f" ({reason})" if reason else ""
        raise ValueError(
            f"format {format!r} cannot be exported from the {backend!r} Keras backend "
            f"here{because}; run with KERAS_BACKEND={allowed}"
        )


def check_export_arguments(format: str, output: str | os.PathLike, quantize: str = "none") -> str:
    """Checks the format, quantization and destination of an export before any work is done.

    Returns:
        The absolute path of `output`.

    Raises:
        ValueError: For an unknown format or quantization, a quantization of another format
            than `'litert'`, or an `output` without the format's extension.
        OSError: If the folder of `output` does not exist or is not writable.
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {', '.join(QUANTIZATIONS)}, got {quantize!r}")
    if quantize != "none" and format != "litert":
        raise ValueError(f"quantize={quantize!r} applies to format 'litert' only, not {format!r}")
    output = os.path.abspath(os.fspath(output))
    suffix = SUFFIXES.get(format)
    if suffix is not None and not output.lower().endswith(suffix):
        raise ValueError(f"output {output} of format {format!r} must end with {suffix}")
    parent = os.path.dirname(output)
    if not os.path.isdir(parent):
        raise OSError(f"output folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OSError(f"output folder {parent} is not writable")
    return output


def export_model(
    model_or_path: Any,
    format: str,
    output: str | os.PathLike,
    confidence_thresh: float | None = None,
    iou_threshold: float | None = None,
    top_k: int | None = None,
    nms_max_output_size: int | None = None,
    mode: str | None = None,
    quantize: str = "none",
) -> str:
    """Exports an SSD model with its decoding to a SavedModel folder, an ONNX or a LiteRT file.

    Args:
        model_or_path: An SSD model of this library (any mode) or the path of a saved one
            (`.keras`, or `.h5` including legacy Keras 2 files).
        format: `'saved_model'`, `'onnx'` or `'litert'`.
        output: Destination: a folder for `'saved_model'`, a `.onnx` / `.tflite` file otherwise.
            An existing artefact there is replaced only once the new one is complete.
        confidence_thresh: See `detection_model`.
        iou_threshold: See `detection_model`.
        top_k: See `detection_model`.
        nms_max_output_size: See `detection_model`.
        mode: See `detection_model`.
        quantize: `'litert'` only: `'none'`, `'dynamic_range'` (int8 weights, float compute) or
            `'float16'` (float16 weights).

    Returns:
        The absolute path written.

    Raises:
        ValueError: For an unknown format or quantization, a quantization of another format
            than `'litert'`, a wrong file extension, a backend that cannot export the format,
            or a model that cannot be decoded.
        OSError: If the model file cannot be read or `output` cannot be written.
    """
    output = check_export_arguments(format, output, quantize)
    check_backend(format)
    model = _load(model_or_path)
    wrapped = detection_model(
        model, confidence_thresh, iou_threshold, top_k, nms_max_output_size, mode
    )
    if format == "saved_model":
        _write_folder(output, lambda target: _export_saved_model(wrapped, target))
    else:
        from misc_utils.atomic_write import atomic_path

        with atomic_path(output, keep_extension=True) as temporary:
            if format == "onnx":
                wrapped.export(
                    temporary, format="onnx", verbose=False, input_signature=_signature(wrapped)
                )
            else:
                wrapped.export(
                    temporary, format="litert", verbose=False, **_litert_options(quantize)
                )
    return output


def _load(model_or_path: Any) -> Any:
    """The model itself, or the model saved at a path (`.keras`, `.h5`, legacy `.h5`)."""
    if not isinstance(model_or_path, (str, os.PathLike)):
        return model_or_path
    path = os.fspath(model_or_path)
    if not os.path.isfile(path):
        raise OSError(f"model file {path} does not exist")
    from models.legacy_h5 import load_ssd_model

    return load_ssd_model(path, compile=False)


def _signature(model: Any) -> list:
    """The input signature of a one-input model: float32 images, any batch size."""
    import keras

    shape = (None, *model.inputs[0].shape[1:])
    return [keras.InputSpec(shape=shape, dtype="float32")]


def _export_saved_model(model: Any, target: str) -> None:
    model.export(target, format="tf_saved_model", verbose=False)


def _write_folder(output: str, write: Any) -> None:
    """Runs `write(temporary_folder)` beside `output`, then moves the result to `output`."""
    parent, name = os.path.split(output)
    if os.path.exists(output) and not os.path.isdir(output):
        raise OSError(f"output {output} exists and is not a folder")
    staging = tempfile.mkdtemp(prefix=f".{name}.", suffix=".partial", dir=parent)
    target = os.path.join(staging, name)
    try:
        write(target)
        if os.path.isdir(output):
            old = os.path.join(staging, f"{name}.old")
            os.replace(output, old)
            os.replace(target, output)
        else:
            os.replace(target, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _litert_options(quantize: str) -> dict:
    """LiteRT converter settings of a quantization choice."""
    if quantize == "none":
        return {}
    import tensorflow as tf

    options: dict = {"optimizations": [tf.lite.Optimize.DEFAULT]}
    if quantize == "float16":
        options["target_spec"] = {"supported_types": [tf.float16]}
    return options
