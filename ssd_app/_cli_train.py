"""The `train` subcommand: build or resume a model, fit it, save it and its log."""

from __future__ import annotations

import argparse
import csv
import math
import os
import time
from typing import Any

from models.prediction import model_input_size
from models.presets import ModelPreset
from ssd_app import _cli_setup as setup
from ssd_app import distribute
from ssd_encoder_decoder.output_layout import model_n_classes

LOG_NAME = "training_log.csv"


def build_model(
    preset: ModelPreset, n_classes: int, learning_rate: float, loss_normalization: str = "replica"
) -> Any:
    """A new compiled training-mode model of the given preset with `n_classes` classes
    (`loss_normalization`: `SSDLoss(normalization=...)`)."""
    import keras

    from keras_loss_function.keras_ssd_loss import SSDLoss

    model = preset.build_model(mode="training", n_classes=n_classes)
    if preset.builder == "ssd7":
        optimizer = keras.optimizers.Adam(
            learning_rate=learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-08
        )
    else:
        optimizer = keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9)
    loss = SSDLoss(neg_pos_ratio=3, alpha=1.0, normalization=loss_normalization)
    model.compile(optimizer=optimizer, loss=loss)
    return model


def augmentation_chain(preset: ModelPreset) -> Any:
    """The tutorials' training augmentation for the preset, with the chains' own defaults."""
    if preset.builder != "ssd7":
        from data_generator.data_augmentation_chain_original_ssd import SSDDataAugmentation

        return SSDDataAugmentation(img_height=preset.img_height, img_width=preset.img_width)
    from data_generator.data_augmentation_chain_constant_input_size import (
        DataAugmentationConstantInputSize,
    )

    return DataAugmentationConstantInputSize()


def input_encoder(preset: ModelPreset, model: Any) -> Any:
    """The `SSDInputEncoder` of `model` (anchors read from it), with the preset's matching."""
    return preset.input_encoder(model, matching_type="multi")


def encoded_datasets(
    preset: ModelPreset,
    encoder: Any,
    train_set: Any,
    val_set: Any,
    batch_size: int,
    transformations: list,
    seed: int | None,
    workers: int = 1,
    repeat: bool = False,
) -> tuple[Any, Any]:
    """`(images, encoded labels)` `PyDataset`s for `fit`: the training one shuffled and
    transformed, the validation one (None if `val_set` is None) only resized to the input."""
    returns = {"processed_images", "encoded_labels"}
    train_data = train_set.as_dataset(
        batch_size=batch_size,
        shuffle=True,
        transformations=transformations,
        label_encoder=encoder,
        returns=returns,
        seed=seed,
        workers=workers,
        repeat=repeat,
    )
    if val_set is None:
        return train_data, None
    val_data = val_set.as_dataset(
        batch_size=batch_size,
        shuffle=False,
        transformations=setup.evaluation_transformations(preset.img_height, preset.img_width),
        label_encoder=encoder,
        returns=returns,
    )
    return train_data, val_data


def best_model_checkpoint(filepath: str, monitor: str) -> Any:
    """A callback saving the model after every epoch that improves `monitor` (lower is better).

    Like `ModelCheckpoint(filepath, monitor=monitor, save_best_only=True)`, but each file is
    written under a temporary name and renamed when complete (`_cli_setup.save_model`):
    a full disk or a crash never leaves a truncated checkpoint under a valid-looking name, and
    the error names the file.

    Args:
        filepath: Path template, formatted with `epoch` (1-based) and the epoch's logs.
        monitor: The logged quantity to minimise, e.g. `'val_loss'`.

    Returns:
        The `keras.callbacks.Callback`.
    """
    keras = setup.import_keras()

    class BestModelCheckpoint(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.best = math.inf

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs or {}
            value = logs.get(monitor)
            if value is None or not float(value) < self.best:  # NaN never improves
                return
            self.best = float(value)
            setup.save_model(self.model, filepath.format(epoch=epoch + 1, **logs))

    return BestModelCheckpoint()


def make_callbacks(output_dir: str, monitor: str) -> list:
    """The tutorial's callbacks; the checkpoints go to `output_dir/checkpoints`."""
    from keras.callbacks import CSVLogger, EarlyStopping, ReduceLROnPlateau, TerminateOnNaN

    checkpoint_dir = os.path.join(output_dir, "checkpoints")
    os.makedirs(checkpoint_dir, exist_ok=True)
    checkpoint_name = "epoch-{epoch:02d}_" + monitor + "-{" + monitor + ":.4f}.keras"
    return [
        best_model_checkpoint(os.path.join(checkpoint_dir, checkpoint_name), monitor),
        CSVLogger(os.path.join(output_dir, LOG_NAME), separator=",", append=True),
        EarlyStopping(monitor=monitor, min_delta=0.0, patience=10, verbose=1),
        ReduceLROnPlateau(
            monitor=monitor, factor=0.2, patience=8, verbose=1, min_delta=0.001, min_lr=0.00001
        ),
        TerminateOnNaN(),
    ]


def epochs_in_log(output_dir: str) -> int:
    """Number of epochs already recorded in the output folder's training log (0 if none).

    Raises:
        CliError: If the log cannot be read: no `epoch` column, a row of another length than
            the header or an epoch that is not a non-negative integer (the message names the
            file and the line).
    """
    path = os.path.join(output_dir, LOG_NAME)
    if not os.path.exists(path):
        return 0
    fix = "repair it, or delete it to count epochs from 0 again"
    try:
        with open(path, encoding="utf-8", newline="") as file:
            reader = csv.reader(file)
            header = next(reader, None)
            if header is None:
                return 0
            if "epoch" not in header:
                raise setup.CliError(f"training log {path} is corrupt: no epoch column; {fix}")
            column = header.index("epoch")
            epochs = [-1]
            for row in reader:
                if len(row) != len(header) or not row[column].isdigit():
                    raise setup.CliError(
                        f"training log {path} is corrupt at line {reader.line_num} "
                        f"({','.join(row)!r}); {fix}"
                    )
                epochs.append(int(row[column]))
    except (UnicodeDecodeError, csv.Error) as error:
        raise setup.CliError(f"training log {path} is corrupt ({error}); {fix}") from error
    except OSError as error:
        raise setup.CliError(f"cannot read the training log {path}: {error.strerror}") from error
    return max(epochs) + 1


def _model_for_run(args: argparse.Namespace, preset: ModelPreset, write_dir: str) -> Any:
    """The model to train: a new one, or the `--resume` model after checking it fits."""
    if args.resume is None:
        log_path = os.path.join(write_dir, LOG_NAME)
        if os.path.exists(log_path):
            os.remove(log_path)  # a fresh run starts a fresh log
        return build_model(preset, args.n_classes, args.learning_rate, args.loss_normalization)
    model = setup.load_model(args.resume, compile=True)
    if model_input_size(model) != (preset.img_height, preset.img_width):
        raise setup.CliError(
            f"--resume model {args.resume} has input size {model_input_size(model)}, "
            f"but --model {args.model} expects {(preset.img_height, preset.img_width)}"
        )
    found = model_n_classes(model)
    if found != args.n_classes:
        raise setup.CliError(
            f"--resume model {args.resume} has {found} classes, but --n-classes is {args.n_classes}"
        )
    return model


def _fit_inputs(
    args: argparse.Namespace, preset: ModelPreset, model: Any, train_set: Any, val_set: Any
) -> tuple[Any, Any]:
    """The training and validation `PyDataset`s (validation None without `--val-labels`)."""
    return encoded_datasets(
        preset,
        input_encoder(preset, model),
        train_set,
        val_set,
        batch_size=args.batch_size,
        transformations=[augmentation_chain(preset)],
        seed=args.seed,
        workers=args.workers,
        repeat=args.steps_per_epoch is not None,  # epochs shorter or longer than one pass
    )


def add_distribute_options(parser: argparse.ArgumentParser) -> None:
    """Adds `--distribute` and `--cpu-devices` to the `train` parser."""
    from ssd_app._common import positive_int

    parser.add_argument(
        "--distribute",
        choices=distribute.ROUTES,
        default="none",
        help="spread training over devices: 'mirrored' (tf.distribute.MirroredStrategy over the "
        "local GPUs or CPU devices; KERAS_BACKEND=tensorflow), 'multi_worker' "
        "(tf.distribute.MultiWorkerMirroredStrategy configured by TF_CONFIG; tensorflow), "
        "'data_parallel' (keras.distribution.DataParallel over all devices, several processes "
        "via jax.distributed; KERAS_BACKEND=jax). See docs/distributed.md. Default: none.",
    )
    parser.add_argument(
        "--cpu-devices",
        type=positive_int,
        default=None,
        metavar="N",
        help="split the CPU into N logical devices (tensorflow and jax backends), e.g. to try "
        "--distribute without accelerators. Default: the backend's devices.",
    )
    parser.add_argument(
        "--loss-normalization",
        choices=("replica", "global"),
        default="replica",
        help="with --distribute mirrored or multi_worker: 'replica' mines hard negatives and "
        "counts positives per replica (the loss is the mean of the replicas' losses), 'global' "
        "over the whole global batch, as on one device; the same on the other routes. A "
        "--resume model keeps the loss it was saved with. Default: replica.",
    )


class _StepCounter:
    """Counts training batches; a Keras callback once `callback` is called."""

    def __init__(self) -> None:
        self.steps = 0

    def callback(self) -> Any:
        keras = setup.import_keras()
        counter = self

        class CountSteps(keras.callbacks.Callback):
            def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
                counter.steps += 1

        return CountSteps()


def _sharded(data: Any, dist: distribute.DistributedSetup) -> Any:
    """`data` as `data_parallel` needs it: every batch a multiple of the device count, and each
    process given its own slice of the global batch (`ProcessShard`)."""
    if data is None or dist.route != "data_parallel":
        return data
    return distribute.process_shard(data, dist)


def train_from_args(args: argparse.Namespace) -> dict:
    """Trains as described by the parsed `train` arguments; returns the run's summary.

    The summary (also written as `train_summary.json` by the chief) holds `backend`,
    `distribute`, `devices`, `replicas`, `processes`, `global_batch_size`,
    `per_replica_batch_size`, `epochs` (this run's), `steps` (training batches run by this
    process), `final_loss` (last epoch's training loss), `wall_s` (seconds in `fit`) and
    `images_per_s` (`steps * global_batch_size / wall_s`).
    """
    if args.n_classes < 1:
        raise setup.CliError(f"--n-classes must be a positive integer, got {args.n_classes}")
    preset = setup.MODEL_PRESETS[args.model]
    train_set = setup.load_dataset(setup.data_source(args, args.train_labels), args.n_classes)
    val_set = None
    if args.val_labels is not None:
        val_set = setup.load_dataset(setup.data_source(args, args.val_labels), args.n_classes)
    distribute.check_backend(args.distribute)
    n_processes = distribute.planned_process_count(args.distribute)
    if n_processes > 1 and args.seed is None:
        raise setup.CliError(
            f"--distribute {args.distribute} runs {n_processes} processes that must build the "
            "same batches: give them all the same --seed"
        )
    output_dir = args.output_dir  # the chief creates and checks it; the others do not write there
    if distribute.planned_chief(args.distribute):
        output_dir = setup.ensure_writable_dir(args.output_dir)
    initial_epoch = 0
    if args.resume is not None:
        setup.require_path(args.resume, "--resume model")
        initial_epoch = epochs_in_log(output_dir)
    # configures the devices, then imports Keras (only now: importing TensorFlow is slow)
    dist = distribute.setup_distribution(args.distribute, args.cpu_devices)
    per_replica = dist.per_replica_batch_size(args.batch_size)
    keras = setup.import_keras()
    write_dir = dist.write_dir(output_dir)
    try:
        if args.seed is not None:
            keras.utils.set_random_seed(args.seed)
        with dist.scope():
            model = _model_for_run(args, preset, write_dir)
        train_data, val_data = _fit_inputs(args, preset, model, train_set, val_set)
        train_data, val_data = _sharded(train_data, dist), _sharded(val_data, dist)
        monitor = "val_loss" if val_data is not None else "loss"
        callbacks = make_callbacks(write_dir, monitor)
        counter = _StepCounter()
        start = time.perf_counter()
        try:
            history = model.fit(
                train_data,
                steps_per_epoch=args.steps_per_epoch,
                epochs=initial_epoch + args.epochs,
                initial_epoch=initial_epoch,
                callbacks=[*callbacks, counter.callback()],
                validation_data=val_data,
                shuffle=False,  # the dataset shuffles itself, every epoch
                verbose=args.verbose if dist.is_chief else 0,
            )
        finally:  # fit leaves the log open when a callback (a checkpoint on a full disk) fails
            for callback in callbacks:
                if isinstance(callback, keras.callbacks.CSVLogger) and callback.csv_file:
                    callback.csv_file.close()
        wall_s = time.perf_counter() - start
        losses = history.history.get("loss") or [math.nan]
        summary = {
            "backend": dist.backend,
            "distribute": dist.route,
            "devices": dist.devices,
            "replicas": dist.num_replicas,
            "processes": dist.process_count,
            "global_batch_size": args.batch_size,
            "per_replica_batch_size": per_replica,
            "epochs": len(history.history.get("loss", [])),
            "steps": counter.steps,
            "final_loss": float(losses[-1]),
            "wall_s": round(wall_s, 3),
            "images_per_s": round(counter.steps * args.batch_size / wall_s, 3) if wall_s else None,
        }
        setup.save_model(model, os.path.join(write_dir, "model.keras"))
        setup.save_model(model, os.path.join(write_dir, "model.h5"))
        distribute.write_summary(os.path.join(write_dir, distribute.SUMMARY_NAME), summary)
    finally:
        dist.cleanup()  # a multi-worker process other than the chief keeps nothing
    if dist.is_chief:
        print(
            f"Saved model.keras, model.h5, {LOG_NAME} and {distribute.SUMMARY_NAME} in {output_dir}"
        )
    return summary


def run_train(args: argparse.Namespace) -> int:
    """Trains as described by the parsed `train` arguments; returns the exit code."""
    train_from_args(args)
    return 0
