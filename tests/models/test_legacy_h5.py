"""Files written by the old library under Keras 2: weights by name, full models, decoded outputs.

`ssd7_full_tfkeras.h5` is a full SSD7 model saved by the original library (four pre-processing
`Lambda` layers, an `AnchorBoxes` config without steps/offsets, an Adam config with `decay`)
after one training step; `ssd7_full_tfkeras_outputs.npz` holds its recorded outputs.
"""

import base64
import json
import marshal
import shutil
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
from keras2_h5_files import write_keras216_file

from keras_layers.keras_layer_AnchorBoxes import AnchorBoxes
from keras_layers.keras_layer_L2Normalization import L2Normalization
from keras_loss_function.keras_ssd_loss import SSDLoss
from models.keras_ssd7 import build_model
from models.keras_ssd300 import ssd_300
from models.legacy_h5 import load_legacy_model, optimizer_from_legacy_config

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden_keras"
OLD_MODEL = GOLDEN / "ssd7_full_tfkeras.h5"
PREPROCESSING = {
    "identity_layer": "Identity",
    "input_mean_normalization": "InputMeanNormalization",
    "input_stddev_normalization": "InputStddevNormalization",
}


@pytest.fixture(scope="module")
def recorded():
    with np.load(GOLDEN / "ssd7_full_tfkeras_outputs.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def images(recorded):
    return recorded["input_ssd7"].astype("float32")


@pytest.fixture(scope="module")
def builder_kwargs():
    return json.loads((GOLDEN / "arch_ssd7.json").read_text())["builder_kwargs"]


def _assert_same_raw_output(y, expected):
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=2e-5)


def test_load_weights_by_name_into_a_new_model(builder_kwargs, images, recorded):
    model = build_model(**builder_kwargs)
    model.load_weights(OLD_MODEL, by_name=True)
    _assert_same_raw_output(model.predict(images, verbose=0), recorded["y_pred_after_step"])


def _tutorial_load_model(path, **kwargs):
    """The old tutorials' own call (section 2.2 of the SSD7 tutorial)."""
    ssd_loss = SSDLoss(neg_pos_ratio=3, alpha=1.0)
    keras.backend.clear_session()
    return keras.models.load_model(
        str(path),
        custom_objects={"AnchorBoxes": AnchorBoxes, "compute_loss": ssd_loss.compute_loss},
        **kwargs,
    )


def _assert_preprocessing_rebuilt(model):
    classes = {layer.name: type(layer).__name__ for layer in model.layers}
    assert {name: classes[name] for name in PREPROCESSING} == PREPROCESSING
    assert "Lambda" not in classes.values()
    assert model.get_layer("input_mean_normalization").mean == 127.5
    assert model.get_layer("input_stddev_normalization").stddev == 127.5


def _slots(model):
    return {v.name: v.numpy() for v in model.optimizer.variables}


def test_load_model_exactly_as_the_tutorial(images, recorded):
    model = _tutorial_load_model(OLD_MODEL)
    _assert_preprocessing_rebuilt(model)
    _assert_same_raw_output(model.predict(images, verbose=0), recorded["y_pred_after_step"])
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert model.optimizer.learning_rate.numpy() == pytest.approx(0.001)
    assert int(model.optimizer.iterations.numpy()) == 1  # the saved state, one step


def test_load_legacy_model_needs_no_custom_objects(images, recorded):
    model = load_legacy_model(OLD_MODEL)
    _assert_same_raw_output(model.predict(images, verbose=0), recorded["y_pred_after_step"])
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert model.optimizer.get_config()["learning_rate"] == pytest.approx(0.001)
    assert model.optimizer.get_config()["epsilon"] == pytest.approx(1e-8)
    assert not [layer for layer in model.layers if isinstance(layer, keras.layers.Lambda)]


def test_load_legacy_model_can_train_on(images, recorded):
    model = load_legacy_model(OLD_MODEL)
    y_true = np.array(recorded["y_pred_after_step"])  # any valid target layout will do
    y_true[..., :6] = np.eye(6)[np.arange(y_true.shape[1]) % 6]
    history = model.fit(images, y_true, epochs=4, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0]


def test_load_legacy_model_uses_the_given_loss():
    def my_loss(y_true, y_pred):
        return keras.ops.mean(y_pred, axis=(1, 2))

    model = load_legacy_model(OLD_MODEL, custom_objects={"compute_loss": my_loss})
    assert model.loss is my_loss
    assert not load_legacy_model(OLD_MODEL, compile=False).compiled


def _with_training_config(tmp_path, optimizer_config):
    copy = tmp_path / "old.h5"
    shutil.copy(OLD_MODEL, copy)
    with h5py.File(copy, "r+") as f:
        training_config = json.loads(f.attrs["training_config"])
        training_config["optimizer_config"] = optimizer_config
        f.attrs["training_config"] = json.dumps(training_config)
    return copy


def test_keras2_lr_and_decay_become_an_equivalent_schedule(tmp_path):
    config = {"class_name": "SGD",
              "config": {"lr": 0.01, "momentum": 0.9, "decay": 0.5, "nesterov": False}}  # fmt: skip
    with pytest.warns(UserWarning, match="optimizer state .* was not restored"):
        model = load_legacy_model(_with_training_config(tmp_path, config))  # Adam slots
    optimizer = model.optimizer
    assert isinstance(optimizer, keras.optimizers.SGD)
    assert optimizer.momentum == pytest.approx(0.9)
    # Keras 2: lr / (1 + decay * iterations)
    for iterations in (0, 1, 4):
        optimizer.iterations.assign(iterations)
        assert float(optimizer.learning_rate) == pytest.approx(0.01 / (1 + 0.5 * iterations))


def test_keras2_lr_without_decay():
    optimizer = optimizer_from_legacy_config(
        {"class_name": "Adam", "config": {"lr": 0.002, "beta_1": 0.9, "beta_2": 0.999,
                                          "epsilon": 1e-8, "decay": 0.0, "amsgrad": False}}
    )  # fmt: skip
    assert isinstance(optimizer, keras.optimizers.Adam)
    assert optimizer.get_config()["learning_rate"] == pytest.approx(0.002)


def test_load_legacy_model_rejects_a_weights_only_file(tmp_path, builder_kwargs):
    model = build_model(**builder_kwargs)
    path = tmp_path / "weights_only.h5"
    with h5py.File(OLD_MODEL, "r") as source, h5py.File(path, "w") as target:
        for key, value in source["model_weights"].attrs.items():
            target.attrs[key] = value
        for name in source["model_weights"]:
            source.copy(source["model_weights"][name], target, name)
    with pytest.raises(ValueError, match="no model configuration"):
        load_legacy_model(path)
    model.load_weights(path, by_name=True)  # the same file is fine for load_weights


# ---------------------------------------------------------------------------------------------
# Decoded outputs of an inference-mode SSD7 with the old weights


def _sorted_rows(rows):
    rows = np.round(rows.astype(np.float64), 2)
    return rows[np.lexsort(rows.T[::-1])]


@pytest.mark.parametrize(
    ("mode", "thresh"),
    [("inference", 0.5), ("inference", 0.01), ("inference_fast", 0.5), ("inference_fast", 0.01)],
)
def test_decoded_outputs_match_the_original(builder_kwargs, images, recorded, mode, thresh):
    key = f"trained_{mode}_conf{str(thresh).replace('.', 'p')}"
    model = build_model(
        **builder_kwargs, mode=mode, confidence_thresh=thresh, iou_threshold=0.45, top_k=200,
        nms_max_output_size=400,
    )  # fmt: skip
    model.load_weights(OLD_MODEL, by_name=True)
    decoded = model.predict(images, verbose=0)
    expected = recorded[key]
    assert decoded.shape == expected.shape == (2, 200, 6)
    for got, want in zip(decoded, expected, strict=True):
        np.testing.assert_allclose(_sorted_rows(got), _sorted_rows(want), atol=0.011)
        # Sorted by confidence, zero rows last, as the original layer returns them.
        assert np.all(np.diff(got[:, 1]) <= 0)


# ---------------------------------------------------------------------------------------------
# Old weight files for SSD300 (reduced VGG-16, trained SSD weights)


def _write_keras2_weights_file(path, layers):
    """An `.h5` in the layout of Keras 2's `save_weights`: `layer_names`, then per layer group
    `weight_names` like `conv4_3_norm/conv4_3_norm_gamma:0`."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [name.encode() for name in layers]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.1.6"
        for layer_name, weights in layers.items():
            group = f.create_group(layer_name)
            group.attrs["weight_names"] = [name.encode() for name in weights]
            for weight_name, value in weights.items():
                group.create_dataset(weight_name, data=value)


def test_ssd300_loads_old_weights_by_name(tmp_path):
    rng = np.random.default_rng(3)
    keras.backend.clear_session()
    model = ssd_300((257, 257, 3), 20, min_scale=0.1, max_scale=0.9)
    names = ["conv1_1", "conv4_3_norm", "fc6", "conv9_2_mbox_conf", "conv6_2_mbox_loc"]
    layers = {}
    for name in names:
        layer = model.get_layer(name)
        layers[name] = {
            f"{name}/{name}_gamma:0" if name == "conv4_3_norm" else f"{name}/{w.name}:0":
            rng.normal(size=w.shape).astype("float32")
            for w in layer.weights
        }  # fmt: skip
    layers["fc8"] = {"fc8/kernel:0": np.ones((1, 1, 4096, 1000), "float32")}  # not in SSD300
    path = tmp_path / "VGG_ILSVRC_16_layers_fc_reduced.h5"
    _write_keras2_weights_file(path, layers)
    untouched = model.get_layer("conv5_1").kernel.numpy().copy()
    model.load_weights(path, by_name=True)
    for name in names:
        for weight, value in zip(model.get_layer(name).weights, layers[name].values(), strict=True):
            np.testing.assert_array_equal(weight.numpy(), value)
    np.testing.assert_array_equal(model.get_layer("conv5_1").kernel.numpy(), untouched)
    assert isinstance(model.get_layer("conv4_3_norm"), L2Normalization)


def test_load_legacy_model_restores_the_adam_state():
    model = load_legacy_model(OLD_MODEL)
    optimizer = model.optimizer
    assert int(optimizer.iterations.numpy()) == 1  # saved after one training step
    slots = {v.name: v.numpy() for v in optimizer.variables}
    with h5py.File(OLD_MODEL, "r") as f:
        group = f["optimizer_weights"]
        saved_m = group["Adam/conv1/kernel/m:0"][()]
        saved_v = group["Adam/bn3/gamma/v:0"][()]
    np.testing.assert_array_equal(slots["conv1_kernel_momentum"], saved_m)
    np.testing.assert_array_equal(slots["bn3_gamma_velocity"], saved_v)
    assert np.any(saved_m != 0)


def test_adam_slots_are_not_given_to_another_optimizer(tmp_path):
    sgd = {"class_name": "SGD", "config": {"lr": 0.01, "momentum": 0.9}}
    with pytest.warns(UserWarning, match="optimizer state .* was not restored: .*unknown layout"):
        model = load_legacy_model(_with_training_config(tmp_path, sgd))
    assert int(model.optimizer.iterations.numpy()) == 0
    assert all(not np.any(v.numpy()) for v in model.optimizer.variables if "momentum" in v.name)


# ---------------------------------------------------------------------------------------------
# Full models written by Keras 2.0-2.2.4 (the old library's own Keras)


@pytest.fixture(scope="module")
def keras216_file(tmp_path_factory):
    return write_keras216_file(tmp_path_factory.mktemp("keras216") / "ssd7_keras216.h5")


def test_the_keras216_fixture_is_what_old_keras_wrote(keras216_file):
    with h5py.File(keras216_file, "r") as f:
        assert f.attrs["keras_version"] == b"2.1.6"
        model_config = json.loads(f.attrs["model_config"])
        training_config = json.loads(f.attrs["training_config"])
        names = [n.decode() for n in f["optimizer_weights"].attrs["weight_names"]]
    assert model_config["class_name"] == "Model"
    assert set(training_config["optimizer_config"]["config"]) >= {"lr", "decay"}
    assert names[:3] == [
        "Adam/iterations:0",
        "training/Adam/Variable:0",
        "training/Adam/Variable_1:0",
    ]
    assert len(names) == 1 + 3 * 44  # iterations, then m, v and vhat of SSD7's 44 weights
    lambdas = [
        layer for layer in model_config["config"]["layers"] if layer["class_name"] == "Lambda"
    ]
    assert len(lambdas) == 3
    code = base64.b64decode(lambdas[0]["config"]["function"][0])
    with pytest.raises((ValueError, EOFError, TypeError)):
        marshal.loads(code)  # bytecode of another Python: unreadable here


def test_keras216_file_loads_with_the_tutorials_call(keras216_file, images, recorded):
    model = _tutorial_load_model(keras216_file)  # safe mode: the bytecode is never run
    _assert_preprocessing_rebuilt(model)
    _assert_same_raw_output(model.predict(images, verbose=0), recorded["y_pred_after_step"])
    optimizer = model.optimizer
    assert isinstance(optimizer, keras.optimizers.Adam)
    assert float(optimizer.learning_rate.numpy()) == pytest.approx(0.001)
    assert float(optimizer.epsilon) == pytest.approx(1e-8)


def test_keras216_optimizer_state_equals_the_tfkeras_one(keras216_file):
    # The 2.1.6 file holds the same Adam state as the tf.keras file, stored by position in
    # Keras 2's weight order; restored, both must be identical slot by slot.
    by_position = _slots(_tutorial_load_model(keras216_file))
    by_name = _slots(_tutorial_load_model(OLD_MODEL))
    assert by_position.keys() == by_name.keys()
    for name, value in by_name.items():
        np.testing.assert_array_equal(by_position[name], value, err_msg=name)
    assert by_position["iteration"] == 1
    assert np.any(by_position["bn3_gamma_velocity"] != 0)


def _target_for(recorded):
    y_true = np.array(recorded["y_pred_after_step"])  # any valid target layout will do
    y_true[..., :6] = np.eye(6)[np.arange(y_true.shape[1]) % 6]
    return y_true


def test_keras216_model_goes_on_training_where_it_stopped(keras216_file, images, recorded):
    y_true = _target_for(recorded)
    model = _tutorial_load_model(keras216_file)
    model.fit(images, y_true, epochs=1, batch_size=2, shuffle=False, verbose=0)
    continued = model.get_layer("conv1").kernel.numpy()
    assert int(model.optimizer.iterations.numpy()) == 2

    # The same step from the tf.keras file (state stored by name) gives the same weights, and a
    # step with a fresh optimizer does not: the restored moments are really used.
    reference = _tutorial_load_model(OLD_MODEL)
    reference.fit(images, y_true, epochs=1, batch_size=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(continued, reference.get_layer("conv1").kernel.numpy(), atol=1e-7)
    fresh = _tutorial_load_model(OLD_MODEL, compile=False)
    fresh.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001, epsilon=1e-8),
                  loss=SSDLoss().compute_loss)  # fmt: skip
    fresh.fit(images, y_true, epochs=1, batch_size=2, shuffle=False, verbose=0)
    assert not np.allclose(continued, fresh.get_layer("conv1").kernel.numpy(), atol=1e-7)


def test_keras216_file_loads_without_custom_objects(keras216_file, images, recorded):
    model = keras.models.load_model(str(keras216_file))
    _assert_same_raw_output(model.predict(images, verbose=0), recorded["y_pred_after_step"])
    assert model.loss.__self__.get_config() == SSDLoss().get_config()


def test_keras216_sgd_with_decay(tmp_path, images, recorded):
    sgd = {"class_name": "SGD",
           "config": {"lr": 0.01, "momentum": 0.9, "decay": 0.5, "nesterov": False}}  # fmt: skip
    path = write_keras216_file(tmp_path / "sgd.h5", optimizer_config=sgd)
    model = _tutorial_load_model(path)
    optimizer = model.optimizer
    assert isinstance(optimizer, keras.optimizers.SGD)
    assert int(optimizer.iterations.numpy()) == 1
    assert float(optimizer.learning_rate) == pytest.approx(0.01 / (1 + 0.5 * 1))
    with h5py.File(path, "r") as f:
        first_momentum = f["optimizer_weights"]["training/SGD/Variable:0"][()]  # conv1 kernel
    np.testing.assert_array_equal(_slots(model)["conv1_kernel_momentum"], first_momentum)
    history = model.fit(images, _target_for(recorded), epochs=1, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_keras216_state_that_does_not_fit_starts_fresh_with_a_warning(keras216_file, tmp_path):
    path = tmp_path / "truncated_state.h5"
    shutil.copy(keras216_file, path)
    with h5py.File(path, "r+") as f:
        group = f["optimizer_weights"]
        names = list(group.attrs["weight_names"])
        group.attrs["weight_names"] = names[:-1]  # one slot missing
    with pytest.warns(UserWarning, match=r"truncated_state\.h5.*not restored.*unknown layout"):
        model = _tutorial_load_model(path)
    assert int(model.optimizer.iterations.numpy()) == 0
    assert not model.optimizer.built  # built by the first `fit` on the model's variables


# ---------------------------------------------------------------------------------------------
# Full models written by Keras 3 (the tutorials' ModelCheckpoint .h5 files)


def test_keras3_h5_checkpoint_resumes_exactly(tmp_path, builder_kwargs, images, recorded):
    y_true = _target_for(recorded)
    keras.backend.clear_session()
    model = build_model(**builder_kwargs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001),
                  loss=SSDLoss().compute_loss)  # fmt: skip
    model.fit(images, y_true, epochs=2, batch_size=2, verbose=0)
    path = tmp_path / "checkpoint.h5"
    model.save(path)
    model.fit(images, y_true, epochs=1, batch_size=2, shuffle=False, verbose=0)
    expected = model.get_layer("conv1").kernel.numpy()

    loaded = _tutorial_load_model(path)
    assert int(loaded.optimizer.iterations.numpy()) == 2
    loaded.fit(images, y_true, epochs=1, batch_size=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(loaded.get_layer("conv1").kernel.numpy(), expected, atol=1e-6)


def test_ssd300_file_without_anchor_steps_warns(tmp_path):
    # The old library's AnchorBoxes config had no steps/offsets; SSD300's anchors then come back
    # on another grid (300 / 38 instead of 8), which must not pass silently.
    keras.backend.clear_session()
    model = ssd_300((300, 300, 3), 3, min_scale=0.1, max_scale=0.9)
    path = tmp_path / "ssd300.h5"
    model.save(path)
    keras.models.load_model(str(path), compile=False)  # steps recorded: no warning
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        for layer in config["config"]["layers"]:
            if layer["class_name"].endswith("AnchorBoxes"):
                del layer["config"]["this_steps"], layer["config"]["this_offsets"]
        f.attrs["model_config"] = json.dumps(config)
    keras.backend.clear_session()
    with pytest.warns(UserWarning, match=r"ssd300\.h5.*anchor steps.*load_weights"):
        loaded = keras.models.load_model(str(path), compile=False)
    assert loaded.get_layer("conv4_3_norm_mbox_priorbox").this_steps is None
