"""Full-model `.h5` files as Keras 2.0-2.2.4 wrote them, made from the recorded tf.keras file.

The old library was used with Keras 2.1.x, so most full-model files users still have differ from
`tests/data/golden_keras/ssd7_full_tfkeras.h5` (written by tf.keras 2.21) in four ways, which
`write_keras216_file` reproduces on a copy of that file:

* `keras_version` is `2.1.6` and the model class is `Model`;
* the layer configs are Keras 2.1's: no `dtype` outside the input layer, initializers and
  regularizers by their old class names (`VarianceScaling`, `L1L2`), batch-norm `axis` an int;
* the optimizer config uses `lr` and `decay`, and the optimizer weights are stored by position:
  `Adam/iterations:0`, then `training/Adam/Variable:0`, `training/Adam/Variable_1:0`, ... holding
  the first moments of all trainable weights in Keras 2's `model.trainable_weights` order (the
  file's `layer_names` order), then the second moments, then one unused `(1,)` slot per weight
  (`vhat`, used only with `amsgrad`); SGD stores the iterations and one momentum per weight;
* the preprocessing `Lambda` layers hold marshalled bytecode of another Python version, which
  Python 3.11 cannot read.

The weights themselves are unchanged, so the model must predict exactly the recorded outputs.
"""

from __future__ import annotations

import base64
import json
import shutil
import struct
from pathlib import Path
from typing import Any

import h5py
import numpy as np

GOLDEN_KERAS = Path(__file__).resolve().parent / "data" / "golden_keras"
TFKERAS_FILE = GOLDEN_KERAS / "ssd7_full_tfkeras.h5"

# A code object as Python 3.7 marshals it (argcount 1, no kw-only arguments, 1 local, stack 2,
# flags 0x43) followed by the first bytes of its body. Python 3.11 expects other fields and
# refuses it ("bad marshal data"), just as it refuses the real bytecode in old files.
PY37_BYTECODE = base64.b64encode(
    b"\xe3" + struct.pack("<5i", 1, 0, 1, 2, 0x43) + b"s\x04\x00\x00\x00|\x00S\x00)\x01N"
).decode("ascii")

_OLD_INITIALIZERS = {
    "HeNormal": ("VarianceScaling", {"scale": 2.0, "mode": "fan_in", "distribution": "normal"}),
    "GlorotUniform": (
        "VarianceScaling",
        {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform"},
    ),
}


def _old_object(config: Any) -> Any:
    """A serialized initializer / regularizer in Keras 2.1's `{class_name, config}` form."""
    if not isinstance(config, dict) or "class_name" not in config:
        return config
    name, inner = config["class_name"], dict(config.get("config") or {})
    if name in _OLD_INITIALIZERS:
        name, defaults = _OLD_INITIALIZERS[name]
        inner = {**defaults, "seed": inner.get("seed")}
    elif name == "L2":
        name, inner = "L1L2", {"l1": 0.0, "l2": inner["l2"]}
    return {"class_name": name, "config": inner}


def _old_layer_config(class_name: str, config: dict) -> dict:
    config = {key: _old_object(value) for key, value in config.items()}
    if class_name == "InputLayer":
        return {key: config[key] for key in ("batch_input_shape", "dtype", "sparse", "name")}
    for key in ("dtype", "groups"):
        config.pop(key, None)
    if class_name == "BatchNormalization" and isinstance(config.get("axis"), list):
        config["axis"] = config["axis"][0]
    if class_name == "Lambda":
        _, defaults, closure = config["function"]
        config = {
            "name": config["name"],
            "trainable": config["trainable"],
            "function": [PY37_BYTECODE, defaults, closure],
            "function_type": "lambda",
            "output_shape": config["output_shape"],
            "output_shape_type": "raw",
            "arguments": {},
        }
    return config


def keras216_model_config(model_config: dict) -> dict:
    """The tf.keras functional config rewritten as Keras 2.1.6's `model.get_config()`."""
    layers = [
        {
            "name": layer["name"],
            "class_name": layer["class_name"],
            "config": _old_layer_config(layer["class_name"], layer["config"]),
            "inbound_nodes": layer["inbound_nodes"],
        }
        for layer in model_config["config"]["layers"]
    ]
    config = {
        "name": model_config["config"]["name"],
        "layers": layers,
        "input_layers": model_config["config"]["input_layers"],
        "output_layers": model_config["config"]["output_layers"],
    }
    return {"class_name": "Model", "config": config}


def _names(values) -> list[str]:
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def keras2_trainable_weight_names(f: h5py.File) -> list[str]:
    """Names of the trainable weights in Keras 2's `model.trainable_weights` order."""
    group = f["model_weights"]
    names = []
    for layer in _names(group.attrs["layer_names"]):
        for weight in _names(group[layer].attrs["weight_names"]):
            if not weight.split("/")[-1].startswith(("moving_mean", "moving_variance")):
                names.append(weight)
    return names


def _named_slots(f: h5py.File) -> dict[str, np.ndarray]:
    group = f["optimizer_weights"]
    return {name: group[name][()] for name in _names(group.attrs["weight_names"])}


def keras216_optimizer_weights(f: h5py.File, optimizer: str) -> list[tuple[str, np.ndarray]]:
    """The tf.keras Adam state of `f` in Keras 2.1.6's positional layout.

    Args:
        f: the open tf.keras file.
        optimizer: `'Adam'` (iterations, m, v, vhat) or `'SGD'` (iterations, momenta, which are
            filled with the Adam first moments: any values of the right shapes will do).
    """
    slots = _named_slots(f)
    params = [name.split(":")[0] for name in keras2_trainable_weight_names(f)]
    values = [slots["Adam/iter:0"]]
    if optimizer == "Adam":
        values += [slots[f"Adam/{p}/m:0"] for p in params]
        values += [slots[f"Adam/{p}/v:0"] for p in params]
        values += [np.zeros(1, np.float32) for _ in params]
    elif optimizer == "SGD":
        values += [slots[f"Adam/{p}/m:0"] for p in params]
    else:
        raise ValueError(optimizer)
    names = [f"{optimizer}/iterations:0"]
    names += [
        "training/{}/Variable{}:0".format(optimizer, f"_{k}" if k else "")
        for k in range(len(values) - 1)
    ]
    return list(zip(names, values, strict=True))


def write_keras216_file(
    target: str | Path,
    optimizer_config: dict | None = None,
    source: str | Path = TFKERAS_FILE,
) -> Path:
    """Writes a Keras 2.1.6-style copy of the tf.keras SSD7 file to `target`.

    Args:
        target: the new file.
        optimizer_config: the `optimizer_config` of the training config; default: the
            tutorial's Adam as Keras 2.1.6 saved it (`lr`, `decay`, `amsgrad`).
        source: the tf.keras full-model file to convert.

    Returns:
        `target` as a `Path`.
    """
    target = Path(target)
    shutil.copy(source, target)
    if optimizer_config is None:
        optimizer_config = {
            "class_name": "Adam",
            "config": {
                "lr": 0.0010000000474974513,
                "beta_1": 0.8999999761581421,
                "beta_2": 0.9990000128746033,
                "decay": 0.0,
                "epsilon": 1e-08,
                "amsgrad": False,
            },
        }
    # Keras 2 wrote every attribute as UTF-8 bytes, which h5py 2 stored as fixed-length strings.
    with h5py.File(target, "r+") as f:
        f.attrs["keras_version"] = np.bytes_(b"2.1.6")
        f.attrs["backend"] = np.bytes_(b"tensorflow")
        model_config = json.loads(f.attrs["model_config"])
        f.attrs["model_config"] = np.bytes_(json.dumps(keras216_model_config(model_config)))
        training_config = {
            "optimizer_config": optimizer_config,
            "loss": "compute_loss",
            "metrics": [],
            "sample_weight_mode": None,
            "loss_weights": None,
        }
        f.attrs["training_config"] = np.bytes_(json.dumps(training_config))
        f["model_weights"].attrs["keras_version"] = np.bytes_(b"2.1.6")
        slots = keras216_optimizer_weights(f, optimizer_config["class_name"])
        del f["optimizer_weights"]
        group = f.create_group("optimizer_weights")
        group.attrs["weight_names"] = np.array([name.encode() for name, _ in slots])
        for name, value in slots:
            group.create_dataset(name, data=value)
    return target
