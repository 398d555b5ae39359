"""The original SSD7 training tutorial, call for call, with only the mechanical Keras 3 edits.

This is the flow most users of the old library know by heart, so it is replayed here cell by
cell, in order, with the tutorial's own arguments. The only changes are the ones Keras 3 forces
and which the README's migration table lists:

* `model.fit(train_generator, ...)` for `model.fit_generator(generator=train_generator, ...)`;
* `Adam(learning_rate=...)` for `Adam(lr=..., decay=0.0)`;
* `layer.output.shape[1:3]` for `layer.output_shape[1:3]`;
* `ModelCheckpoint(save_freq='epoch')` for `period=1`, `ReduceLROnPlateau(min_delta=...)` for
  `epsilon=...`;
* no `%matplotlib inline`.

What the tutorial reads from disk is the small road-traffic sample in `tests/data/golden/dataset`
(11 JPEGs of 300x480 with a `labels.csv` in the Udacity column order), split into a training and
a validation CSV; the training is a few steps instead of 20,000.
"""

from __future__ import annotations

import csv
import glob
import os
from math import ceil
from pathlib import Path

import numpy as np
import pytest

DATASET = Path(__file__).resolve().parents[1] / "data" / "golden" / "dataset"
VAL_IMAGES = ("000008.jpg", "000009.jpg", "000010.jpg")


def _split_labels(target: Path) -> tuple[str, str]:
    """Writes `labels_train.csv` / `labels_val.csv` (the tutorial's two files) into `target`."""
    with open(DATASET / "labels.csv", newline="") as source:
        header, *rows = list(csv.reader(source))
    paths = []
    for split, keep in (("train", False), ("val", True)):
        path = target / f"labels_{split}.csv"
        with open(path, "w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(header)
            writer.writerows(row for row in rows if (row[0] in VAL_IMAGES) == keep)
        paths.append(str(path))
    return paths[0], paths[1]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """The tutorial writes its HDF5 files, checkpoints and CSV log into the working directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


# Keras warns that `fit`'s default `shuffle=True` does not apply to a generator; `generate`
# shuffles by itself, as the tutorial asks it to, so the warning is harmless.
@pytest.mark.filterwarnings("ignore:`shuffle=True` was passed:UserWarning")
def test_seed_tutorial_call_for_call(workdir):
    np.random.seed(1)  # noqa: NPY002 - the library draws from the global generator

    # --- Cell 1: imports (minus `%matplotlib inline`) -------------------------------------------
    from keras import backend as K  # noqa: N812 - the tutorial's name
    from keras.callbacks import (
        CSVLogger,
        EarlyStopping,
        ModelCheckpoint,
        ReduceLROnPlateau,
        TerminateOnNaN,
    )
    from keras.models import load_model
    from keras.optimizers import Adam
    from matplotlib import pyplot as plt

    from data_generator.data_augmentation_chain_constant_input_size import (
        DataAugmentationConstantInputSize,
    )
    from data_generator.object_detection_2d_data_generator import DataGenerator
    from keras_layers.keras_layer_AnchorBoxes import AnchorBoxes
    from keras_loss_function.keras_ssd_loss import SSDLoss
    from models.keras_ssd7 import build_model
    from ssd_encoder_decoder.ssd_input_encoder import SSDInputEncoder
    from ssd_encoder_decoder.ssd_output_decoder import decode_detections, decode_detections_fast

    # --- Cell 2: model configuration -------------------------------------------------------------
    img_height = 300
    img_width = 480
    img_channels = 3
    intensity_mean = 127.5
    intensity_range = 127.5
    n_classes = 5
    scales = [0.08, 0.16, 0.32, 0.64, 0.96]
    aspect_ratios = [0.5, 1.0, 2.0]
    two_boxes_for_ar1 = True
    steps = None
    offsets = None
    clip_boxes = False
    variances = [1.0, 1.0, 1.0, 1.0]
    normalize_coords = True

    # --- Cell 3: build and compile ---------------------------------------------------------------
    K.clear_session()
    model = build_model(
        image_size=(img_height, img_width, img_channels),
        n_classes=n_classes,
        mode="training",
        l2_regularization=0.0005,
        scales=scales,
        aspect_ratios_global=aspect_ratios,
        aspect_ratios_per_layer=None,
        two_boxes_for_ar1=two_boxes_for_ar1,
        steps=steps,
        offsets=offsets,
        clip_boxes=clip_boxes,
        variances=variances,
        normalize_coords=normalize_coords,
        subtract_mean=intensity_mean,
        divide_by_stddev=intensity_range,
    )
    adam = Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-08)
    ssd_loss = SSDLoss(neg_pos_ratio=3, alpha=1.0)
    model.compile(optimizer=adam, loss=ssd_loss.compute_loss)

    # --- Cell 5: data generators, parsing and HDF5 conversion -------------------------------------
    train_dataset = DataGenerator(load_images_into_memory=False, hdf5_dataset_path=None)
    val_dataset = DataGenerator(load_images_into_memory=False, hdf5_dataset_path=None)
    images_dir = str(DATASET / "JPEGImages")
    train_labels_filename, val_labels_filename = _split_labels(workdir)
    train_dataset.parse_csv(
        images_dir=images_dir,
        labels_filename=train_labels_filename,
        input_format=["image_name", "xmin", "xmax", "ymin", "ymax", "class_id"],
        include_classes="all",
    )
    val_dataset.parse_csv(
        images_dir=images_dir,
        labels_filename=val_labels_filename,
        input_format=["image_name", "xmin", "xmax", "ymin", "ymax", "class_id"],
        include_classes="all",
    )
    train_dataset.create_hdf5_dataset(
        file_path="dataset_udacity_traffic_train.h5",
        resize=False,
        variable_image_size=True,
        verbose=True,
    )
    val_dataset.create_hdf5_dataset(
        file_path="dataset_udacity_traffic_val.h5",
        resize=False,
        variable_image_size=True,
        verbose=True,
    )
    train_dataset_size = train_dataset.get_dataset_size()
    val_dataset_size = val_dataset.get_dataset_size()
    assert (train_dataset_size, val_dataset_size) == (7, 3)  # the image without boxes is skipped
    assert os.path.getsize("dataset_udacity_traffic_train.h5") > 0

    # --- Cell 6: augmentation chain, encoder and the two generators ------------------------------
    batch_size = 16
    data_augmentation_chain = DataAugmentationConstantInputSize(
        random_brightness=(-48, 48, 0.5),
        random_contrast=(0.5, 1.8, 0.5),
        random_saturation=(0.5, 1.8, 0.5),
        random_hue=(18, 0.5),
        random_flip=0.5,
        random_translate=((0.03, 0.5), (0.03, 0.5), 0.5),
        random_scale=(0.5, 2.0, 0.5),
        n_trials_max=3,
        clip_boxes=True,
        overlap_criterion="area",
        bounds_box_filter=(0.3, 1.0),
        bounds_validator=(0.5, 1.0),
        n_boxes_min=1,
        background=(0, 0, 0),
    )
    predictor_sizes = [
        model.get_layer("classes4").output.shape[1:3],
        model.get_layer("classes5").output.shape[1:3],
        model.get_layer("classes6").output.shape[1:3],
        model.get_layer("classes7").output.shape[1:3],
    ]
    ssd_input_encoder = SSDInputEncoder(
        img_height=img_height,
        img_width=img_width,
        n_classes=n_classes,
        predictor_sizes=predictor_sizes,
        scales=scales,
        aspect_ratios_global=aspect_ratios,
        two_boxes_for_ar1=two_boxes_for_ar1,
        steps=steps,
        offsets=offsets,
        clip_boxes=clip_boxes,
        variances=variances,
        matching_type="multi",
        pos_iou_threshold=0.5,
        neg_iou_limit=0.3,
        normalize_coords=normalize_coords,
    )
    train_generator = train_dataset.generate(
        batch_size=batch_size,
        shuffle=True,
        transformations=[data_augmentation_chain],
        label_encoder=ssd_input_encoder,
        returns={"processed_images", "encoded_labels"},
        keep_images_without_gt=False,
    )
    val_generator = val_dataset.generate(
        batch_size=batch_size,
        shuffle=False,
        transformations=[],
        label_encoder=ssd_input_encoder,
        returns={"processed_images", "encoded_labels"},
        keep_images_without_gt=False,
    )

    # --- Cell 7: callbacks (TerminateOnNaN, imported by the tutorial, as the fifth) ---------------
    model_checkpoint = ModelCheckpoint(
        filepath="ssd7_epoch-{epoch:02d}_loss-{loss:.4f}_val_loss-{val_loss:.4f}.h5",
        monitor="val_loss",
        verbose=0,
        save_best_only=True,
        save_weights_only=False,
        mode="auto",
        save_freq="epoch",
    )
    csv_logger = CSVLogger(filename="ssd7_training_log.csv", separator=",", append=True)
    early_stopping = EarlyStopping(monitor="val_loss", min_delta=0.0, patience=10, verbose=0)
    reduce_learning_rate = ReduceLROnPlateau(
        monitor="val_loss",
        factor=0.2,
        patience=8,
        verbose=0,
        min_delta=0.001,
        cooldown=0,
        min_lr=0.00001,
    )
    callbacks = [
        model_checkpoint,
        csv_logger,
        early_stopping,
        reduce_learning_rate,
        TerminateOnNaN(),
    ]

    # --- Cell 8: train --------------------------------------------------------------------------
    initial_epoch = 0
    final_epoch = 2
    steps_per_epoch = 2
    history = model.fit(
        train_generator,
        steps_per_epoch=steps_per_epoch,
        epochs=final_epoch,
        callbacks=callbacks,
        validation_data=val_generator,
        validation_steps=ceil(val_dataset_size / batch_size),
        initial_epoch=initial_epoch,
        verbose=0,
    )
    assert len(history.history["loss"]) == 2
    assert np.all(np.isfinite(history.history["val_loss"]))

    # --- Cell 9: loss curves -------------------------------------------------------------------
    plt.figure(figsize=(20, 12))
    plt.plot(history.history["loss"], label="loss")
    plt.plot(history.history["val_loss"], label="val_loss")
    plt.legend(loc="upper right", prop={"size": 24})
    plt.close("all")

    checkpoints = sorted(glob.glob("ssd7_epoch-*_loss-*_val_loss-*.h5"))
    assert checkpoints and checkpoints[0].startswith("ssd7_epoch-01_loss-")
    with open("ssd7_training_log.csv") as log:
        assert len(log.read().splitlines()) == 3  # header + two epochs

    # --- Cell 4 (section 2.2): load the saved full model, as the tutorial does ------------------
    model_path = checkpoints[-1]
    ssd_loss = SSDLoss(neg_pos_ratio=3, alpha=1.0)
    K.clear_session()
    model = load_model(
        model_path,
        custom_objects={"AnchorBoxes": AnchorBoxes, "compute_loss": ssd_loss.compute_loss},
    )

    # ... and resume the training from there, as section 4 describes.
    history = model.fit(
        train_generator,
        steps_per_epoch=steps_per_epoch,
        epochs=3,
        callbacks=callbacks,
        validation_data=val_generator,
        validation_steps=ceil(val_dataset_size / batch_size),
        initial_epoch=2,
        verbose=0,
    )
    assert len(history.history["loss"]) == 1 and np.isfinite(history.history["loss"][0])
    with open("ssd7_training_log.csv") as log:
        assert len(log.read().splitlines()) == 4  # appended: header + three epochs

    # --- Cells 10-13: predict on a validation batch and decode --------------------------------
    predict_generator = val_dataset.generate(
        batch_size=1,
        shuffle=True,
        transformations=[],
        label_encoder=None,
        returns={"processed_images", "processed_labels", "filenames"},
        keep_images_without_gt=False,
    )
    batch_images, batch_labels, batch_filenames = next(predict_generator)
    i = 0
    assert Path(batch_filenames[i]).name in VAL_IMAGES
    assert batch_labels[i].shape[1] == 5

    y_pred = model.predict(batch_images, verbose=0)
    assert y_pred.shape == (1, ssd_input_encoder.generate_encoding_template(1).shape[1], 18)

    y_pred_decoded = decode_detections(
        y_pred,
        confidence_thresh=0.5,
        iou_threshold=0.45,
        top_k=200,
        normalize_coords=normalize_coords,
        img_height=img_height,
        img_width=img_width,
    )
    assert len(y_pred_decoded) == 1 and y_pred_decoded[i].shape[1:] == (6,)
    # At a threshold every evaluation uses, an (untrained) model yields detections in pixels.
    y_pred_decoded = decode_detections(
        y_pred,
        confidence_thresh=0.01,
        iou_threshold=0.45,
        top_k=200,
        normalize_coords=normalize_coords,
        img_height=img_height,
        img_width=img_width,
    )
    rows = y_pred_decoded[i]
    assert 0 < len(rows) <= 200
    assert set(np.unique(rows[:, 0])) <= {1, 2, 3, 4, 5}
    assert rows[:, [2, 4]].max() > 1.5 or rows[:, [3, 5]].max() > 1.5  # pixels, not relative
    y_pred_fast = decode_detections_fast(
        y_pred,
        confidence_thresh=0.01,
        iou_threshold=0.45,
        top_k=200,
        normalize_coords=normalize_coords,
        img_height=img_height,
        img_width=img_width,
    )
    assert len(y_pred_fast) == 1 and y_pred_fast[i].shape[1:] == (6,)

    # --- Cell 14: draw the boxes -----------------------------------------------------------------
    plt.figure(figsize=(20, 12))
    plt.imshow(batch_images[i])
    current_axis = plt.gca()
    colors = plt.cm.hsv(np.linspace(0, 1, n_classes + 1)).tolist()
    classes = ["background", "car", "truck", "pedestrian", "bicyclist", "light"]
    for box in batch_labels[i]:
        xmin, ymin, xmax, ymax = box[1], box[2], box[3], box[4]
        current_axis.add_patch(
            plt.Rectangle(
                (xmin, ymin), xmax - xmin, ymax - ymin, color="green", fill=False, linewidth=2
            )
        )
    for box in rows[:5]:
        xmin, ymin, xmax, ymax = box[-4], box[-3], box[-2], box[-1]
        color = colors[int(box[0])]
        label = f"{classes[int(box[0])]}: {box[1]:.2f}"
        current_axis.add_patch(
            plt.Rectangle((xmin, ymin), xmax - xmin, ymax - ymin, color=color, fill=False)
        )
        current_axis.text(xmin, ymin, label, size="x-large", color="white")
    plt.close("all")
