"""`ssd-keras train` from Python: `train` runs the whole command and returns its summary.

It sits apart from `ssd_app.distribute` (the device set-up that the command uses) so that the
command line and the distribution module do not import each other.
"""

from __future__ import annotations

from collections.abc import Sequence


def train(
    images_dir: str,
    train_labels: str,
    output_dir: str,
    *,
    distribute: str = "none",
    cpu_devices: int | None = None,
    batch_size: int = 16,
    epochs: int = 10,
    extra_args: Sequence[str] = (),
) -> dict:
    """Runs `ssd-keras train` from Python and returns its `train_summary.json` content.

    Call it at most once per process, before anything else uses the Keras backend (the device
    configuration happens first). Options without a keyword here are passed as command-line
    arguments in `extra_args`, e.g. `('--val-labels', 'val.csv', '--steps-per-epoch', '5')`.

    Args:
        images_dir: Folder of the images.
        train_labels: Training labels (CSV by default; see `--data-format` in `extra_args`).
        output_dir: Folder for the model files, log, checkpoints and summary.
        distribute: One of `ssd_app.distribute.ROUTES`.
        cpu_devices: Logical CPU devices to split the CPU into (None: the backend's default).
        batch_size: The global batch size (a multiple of the number of replicas).
        epochs: Epochs to train.
        extra_args: Further `ssd-keras train` arguments.

    Returns:
        The summary dict (`backend`, `distribute`, `devices`, `global_batch_size`, `steps`,
        `final_loss`, `wall_s`, `images_per_s`, ...). A multi-worker process that is not the
        chief returns its own summary without writing it.

    Raises:
        ssd_app.distribute.DistributeError, ssd_app._cli_setup.CliError, ValueError, OSError:
            For bad settings or input, with the message the command line would print;
            `SystemExit` for arguments the command-line parser rejects.
    """
    from ssd_app import cli
    from ssd_app._cli_train import train_from_args

    argv = [
        "train",
        "--images-dir", images_dir,
        "--train-labels", train_labels,
        "--output-dir", output_dir,
        "--distribute", distribute,
        "--batch-size", str(batch_size),
        "--epochs", str(epochs),
        *(["--cpu-devices", str(cpu_devices)] if cpu_devices is not None else []),
        *extra_args,
    ]  # fmt: skip
    return train_from_args(cli.build_parser().parse_args(argv))
