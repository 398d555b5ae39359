"""`import keras_layers` is all a fresh process needs to load any model this library saves.

Keras finds a registered class only once its module has been imported, so these tests load in a
new Python process that imports nothing of the library but `keras_layers`, as a user's inference
script would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from project_packages import LIBRARY_PACKAGES, ROOT, module_files

from keras_loss_function.keras_ssd_loss import SSDLoss
from models.presets import SSD7_ROAD_TRAFFIC

REGISTERED_NAMES = (
    "import keras\n"
    "print(json.dumps(sorted(name for name in keras.saving.get_custom_objects()"
    " if name.startswith('ssd_keras>'))))\n"
)


def _run(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", "import json\n" + code],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def _library_modules() -> list[str]:
    """Every module of the library packages that registers a Keras serializable."""
    return [
        name
        for name, path in module_files(ROOT, LIBRARY_PACKAGES).items()
        if "register_keras_serializable(" in path.read_text(encoding="utf-8")
    ]


def test_importing_keras_layers_registers_every_serializable_of_the_library():
    modules = _library_modules()
    assert "keras_layers.keras_layer_BatchNormalization" in modules
    imports = "".join(f"import {module}\n" for module in modules)
    everything = json.loads(_run(imports + REGISTERED_NAMES))
    after_keras_layers = json.loads(_run("import keras_layers\n" + REGISTERED_NAMES))
    assert "ssd_keras>BatchNormalization" in everything
    assert "ssd_keras>SSDLoss" in everything
    assert after_keras_layers == everything


@pytest.mark.parametrize("mode", ["training", "inference"])
def test_saved_models_load_in_a_fresh_process_after_import_keras_layers(tmp_path, mode):
    model = SSD7_ROAD_TRAFFIC.build_model(mode=mode)
    model.compile(optimizer="adam", loss=SSDLoss())
    images = np.random.default_rng(0).uniform(0, 255, (1, 300, 480, 3)).astype("float32")
    expected = np.asarray(model.predict(images, verbose=0))
    np.save(tmp_path / "images.npy", images)
    paths = [str(tmp_path / "model.keras"), str(tmp_path / "model.h5")]
    for path in paths:
        model.save(path)
    code = (
        "import keras, numpy as np\n"
        "import keras_layers\n"
        f"images = np.load({str(tmp_path / 'images.npy')!r})\n"
        "outputs = []\n"
        f"for path in {paths!r}:\n"
        "    model = keras.models.load_model(path, safe_mode=True)\n"
        "    outputs.append(np.asarray(model.predict(images, verbose=0)).tolist())\n"
        "print(json.dumps(outputs))\n"
    )
    for loaded in json.loads(_run(code)):
        np.testing.assert_allclose(np.asarray(loaded), expected, rtol=1e-5, atol=1e-5)
