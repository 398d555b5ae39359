"""Training the models: the loss goes down, L2 regularisation as in the original, gradients."""

import keras
import numpy as np
import pytest
from autodiff import gradients

from keras_loss_function.keras_ssd_loss import SSDLoss
from models.keras_ssd7 import build_model
from models.keras_ssd300 import ssd_300
from models.utils import get_predictor_sizes
from ssd_encoder_decoder.ssd_input_encoder import SSDInputEncoder

SIZE = (64, 96, 3)
N_CLASSES = 2
L2 = 0.0005


def _synthetic_set(n_images=8, seed=0):
    """Grey noisy images with one bright (class 1) and one dark (class 2) rectangle each."""
    rng = np.random.default_rng(seed)
    height, width, _ = SIZE
    images = rng.normal(127, 10, (n_images, *SIZE)).clip(0, 255).astype("float32")
    labels = []
    for image in images:
        rows = []
        for class_id, value in ((1, 250.0), (2, 5.0)):
            w, h = rng.integers(14, 40), rng.integers(14, 30)
            x0, y0 = rng.integers(0, width - w), rng.integers(0, height - h)
            image[y0 : y0 + h, x0 : x0 + w] = value
            rows.append([class_id, x0, y0, x0 + w, y0 + h])
        labels.append(np.array(rows, dtype=float))
    return images, labels


@pytest.fixture(scope="module")
def data():
    images, labels = _synthetic_set()
    sizes = get_predictor_sizes(build_model(SIZE, N_CLASSES))
    encoder = SSDInputEncoder(
        img_height=SIZE[0], img_width=SIZE[1], n_classes=N_CLASSES, predictor_sizes=sizes,
        min_scale=0.1, max_scale=0.9, variances=(1.0, 1.0, 1.0, 1.0), normalize_coords=True,
    )  # fmt: skip
    return images, encoder(labels)


def _model():
    return build_model(
        SIZE, N_CLASSES, l2_regularization=L2, normalize_coords=True,
        subtract_mean=127.5, divide_by_stddev=127.5,
    )  # fmt: skip


@pytest.mark.parametrize("loss_kind", ["instance", "compute_loss"])
def test_fit_lowers_the_loss(data, loss_kind):
    images, y_true = data
    keras.utils.set_random_seed(1)
    model = _model()
    ssd_loss = SSDLoss(neg_pos_ratio=3, alpha=1.0)
    loss = ssd_loss if loss_kind == "instance" else ssd_loss.compute_loss
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss=loss)
    history = model.fit(images, y_true, batch_size=4, epochs=6, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.6 * losses[0]


def test_l2_regularisation_is_counted_as_in_the_original(data):
    images, y_true = data
    keras.utils.set_random_seed(2)
    model = _model()
    kernels = [layer.kernel for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(kernels) == 7 + 8  # conv1..conv7 and the 8 predictor convolutions
    expected_penalty = L2 * sum(float(np.sum(np.square(k.numpy()))) for k in kernels)
    penalty = float(sum(keras.ops.convert_to_numpy(loss) for loss in model.losses))
    assert penalty == pytest.approx(expected_penalty, rel=1e-5)

    model.compile(optimizer="adam", loss=SSDLoss().compute_loss)
    total = model.evaluate(images, y_true, batch_size=len(images), verbose=0)
    y_pred = model.predict(images, batch_size=len(images), verbose=0)
    ssd = np.mean(keras.ops.convert_to_numpy(SSDLoss().compute_loss(y_true, y_pred)))
    assert total == pytest.approx(ssd + expected_penalty, rel=1e-4)


def _all_positive_targets(model, x, seed):
    """A target that makes every anchor a positive, so every head gets a gradient."""
    y = keras.ops.convert_to_numpy(model(x)).copy()
    n_classes = y.shape[-1] - 12
    y[..., :n_classes] = np.eye(n_classes)[1 + np.arange(y.shape[1]) % (n_classes - 1)]
    y[..., -12:-8] = np.random.default_rng(seed).normal(size=y[..., -12:-8].shape)
    return y


def _assert_gradients_reach_every_weight(model, x):
    y_true = _all_positive_targets(model, x, seed=0)
    loss_fn = SSDLoss()

    def total_loss():
        y_pred = model(x, training=True)
        loss = keras.ops.mean(loss_fn.compute_loss(y_true, y_pred)) + keras.ops.sum(model.losses)
        return loss, ()

    _, _, grads = gradients(
        total_loss, variables=model.trainable_variables, state=model.non_trainable_variables
    )
    assert len(grads) == len(model.trainable_variables) > 0
    for variable, grad in zip(model.trainable_variables, grads, strict=True):
        assert grad is not None, variable.path
        assert np.any(grad != 0), variable.path


def test_gradients_reach_every_weight_ssd7():
    x = np.random.default_rng(4).uniform(0, 255, (2, *SIZE)).astype("float32")
    _assert_gradients_reach_every_weight(_model(), x)


def test_gradients_reach_every_weight_ssd300():
    keras.backend.clear_session()
    model = ssd_300((257, 257, 3), 3, min_scale=0.1, max_scale=0.9)
    # Pixels within about 1 of the mean the model subtracts. With raw 0-255 noise the randomly
    # initialised deep heads give class logits in the hundreds, whose saturated softmax passes no
    # gradient to some heads for some initialisations (and those differ between backends); here
    # the logits stay below about 15.
    rng = np.random.default_rng(5)
    x = (np.array([123.0, 117.0, 104.0]) + rng.normal(0, 1, (1, 257, 257, 3))).astype("float32")
    _assert_gradients_reach_every_weight(model, x)
