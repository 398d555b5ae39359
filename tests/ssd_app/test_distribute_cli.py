"""`ssd-keras train --distribute`: every route trains on two logical CPU devices, multi-worker
runs with two real worker processes (chief-only files, resume after a worker dies), and bad
settings give one error line.

The training runs are subprocesses: each needs its own backend (`KERAS_BACKEND`) and a device
configuration that can only be set before the backend starts.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from data_generator.synthetic_traffic import generate_dataset
from ssd_app import cli
from ssd_app import distribute as dist

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUMMARY_FIELDS = {
    "backend", "distribute", "devices", "replicas", "processes", "global_batch_size",
    "per_replica_batch_size", "epochs", "steps", "final_loss", "wall_s", "images_per_s",
}  # fmt: skip
RUN_TIMEOUT = 400
"""Seconds one training subprocess may take (two CPU cores, SSD7, a few steps)."""


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """8 training frames (CSV labels)."""
    root = tmp_path_factory.mktemp("traffic")
    return generate_dataset(root, n_train=8, n_val=0, seed=0, workers=1, verbose=False)


def _train_args(data, output_dir, *extra):
    return [
        "train",
        "--images-dir", data["images_dir"],
        "--train-labels", data["labels_train"],
        "--output-dir", str(output_dir),
        "--seed", "0",
        "--epochs", "1",
        "--steps-per-epoch", "2",
        "--batch-size", "4",
        "--verbose", "0",
        *extra,
    ]  # fmt: skip


def _env(backend, tmp_dir=None, **extra):
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": REPO_ROOT}
    env.pop("TF_CONFIG", None)
    env.update(extra)
    if tmp_dir is not None:
        env["TMPDIR"] = str(tmp_dir)
    return env


def _command(args):
    return [sys.executable, "-m", "ssd_app.cli", *args]


def _run_cli(args, backend, **extra):
    return subprocess.run(
        _command(args),
        cwd=REPO_ROOT,
        env=_env(backend, **extra),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def _error_line(result) -> str:
    """The one `ssd-keras: error:` line of a failed run (exit code 2)."""
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("ssd-keras: error:")]
    assert len(lines) == 1, result.stderr[-2000:]
    assert result.stderr.rstrip().endswith(lines[0])
    return lines[0]


def _summary(output_dir) -> dict:
    with open(os.path.join(output_dir, dist.SUMMARY_NAME), encoding="utf-8") as file:
        summary = json.load(file)
    assert SUMMARY_FIELDS <= set(summary)
    return summary


def _log_epochs(output_dir):
    with open(os.path.join(output_dir, "training_log.csv"), encoding="utf-8") as file:
        return [int(row["epoch"]) for row in csv.DictReader(file)]


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


# ----------------------------------------------------------------------------------------------
# Bad settings: one line, exit code 2


def test_cpu_devices_must_be_positive(data, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(_train_args(data, tmp_path, "--cpu-devices", "0"))
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("ssd-keras: error: argument --cpu-devices")


@pytest.mark.parametrize(
    ("route", "backend", "needed"),
    [
        ("data_parallel", "tensorflow", "jax"),
        ("mirrored", "jax", "tensorflow"),
        ("multi_worker", "torch", "tensorflow"),
    ],
)
def test_route_on_the_wrong_backend_names_the_backend_to_set(
    data, tmp_path, route, backend, needed
):
    result = _run_cli(_train_args(data, tmp_path, "--distribute", route), backend)
    line = _error_line(result)
    assert f"--distribute {route}" in line and f"KERAS_BACKEND={needed}" in line


@pytest.mark.parametrize(
    ("tf_config", "expected"),
    [
        (None, "needs the TF_CONFIG variable"),
        ("{not json", "TF_CONFIG is not valid JSON"),
        ('{"cluster": {"worker": ["127.0.0.1:1"]}}', "needs a 'cluster' and a 'task'"),
        (
            '{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 3}}',
            "is not a member of its cluster",
        ),
    ],
)
def test_bad_tf_config(data, tmp_path, tf_config, expected):
    extra = {} if tf_config is None else {"TF_CONFIG": tf_config}
    args = _train_args(data, tmp_path, "--distribute", "multi_worker")
    assert expected in _error_line(_run_cli(args, "tensorflow", **extra))


def test_parse_tf_config_finds_the_task():
    text = '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}'
    assert dist.parse_tf_config(text) == ({"worker": ["a:1", "b:2"]}, ("worker", 1))


def test_chief_and_process_count_from_the_environment(monkeypatch):
    cluster = {"chief": ["a:1"], "worker": ["b:1", "c:1"]}
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "chief", "index": 0}})
    )
    assert dist.planned_chief("multi_worker") and dist.planned_process_count("multi_worker") == 3
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}})
    )
    assert not dist.planned_chief("multi_worker")
    monkeypatch.setenv("JAX_NUM_PROCESSES", "4")
    monkeypatch.setenv("JAX_PROCESS_ID", "1")
    assert dist.planned_process_count("data_parallel") == 4 and not dist.planned_chief(
        "data_parallel"
    )
    assert dist.planned_process_count("none") == 1 and dist.planned_chief("none")


def test_cpu_devices_on_torch(data, tmp_path):
    result = _run_cli(_train_args(data, tmp_path, "--cpu-devices", "2"), "torch")
    assert "--cpu-devices is supported on the tensorflow and jax backends" in _error_line(result)


def test_batch_must_split_over_the_replicas(data, tmp_path):
    args = _train_args(data, tmp_path, "--distribute", "mirrored", "--cpu-devices", "2")
    args[args.index("--batch-size") + 1] = "3"
    line = _error_line(_run_cli(args, "tensorflow"))
    assert "--batch-size 3 is the global batch and must be a multiple of the 2 replicas" in line


def test_several_processes_need_a_seed(data, tmp_path):
    args = _train_args(data, tmp_path, "--distribute", "multi_worker")
    del args[args.index("--seed") : args.index("--seed") + 2]
    config = json.dumps(
        {
            "cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
            "task": {"type": "worker", "index": 0},
        }
    )
    line = _error_line(_run_cli(args, "tensorflow", TF_CONFIG=config))
    assert "runs 2 processes" in line and "--seed" in line


# ----------------------------------------------------------------------------------------------
# Every route trains


@pytest.mark.slow
@pytest.mark.parametrize(
    ("route", "backend", "replicas"),
    [
        ("none", "tensorflow", 1),
        ("mirrored", "tensorflow", 2),
        ("data_parallel", "jax", 2),
    ],
)
def test_every_route_trains_and_writes_the_summary(data, tmp_path, route, backend, replicas):
    output_dir = tmp_path / "out"
    args = _train_args(data, output_dir, "--distribute", route, "--cpu-devices", "2")
    result = _run_cli(args, backend)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = _summary(output_dir)
    assert summary["backend"] == backend and summary["distribute"] == route
    assert summary["replicas"] == replicas and len(summary["devices"]) == replicas
    assert summary["global_batch_size"] == 4 and summary["per_replica_batch_size"] == 4 // replicas
    assert summary["steps"] == 2 and summary["epochs"] == 1
    assert summary["final_loss"] > 0 and summary["wall_s"] > 0 and summary["images_per_s"] > 0
    for name in ("model.keras", "model.h5", "training_log.csv"):
        assert os.path.getsize(output_dir / name) > 0


@pytest.mark.slow
def test_python_api_trains_and_returns_the_summary(data, tmp_path):
    output_dir = tmp_path / "out"
    script = (
        "import json, sys\n"
        "from ssd_app import training\n"
        "summary = training.train(sys.argv[1], sys.argv[2], sys.argv[3], distribute='mirrored',"
        " cpu_devices=2, batch_size=4, epochs=1,"
        " extra_args=('--steps-per-epoch', '1', '--seed', '0', '--verbose', '0'))\n"
        "print(json.dumps(summary))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, data["images_dir"], data["labels_train"], str(output_dir)],
        cwd=REPO_ROOT,
        env=_env("tensorflow"),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    returned = json.loads(result.stdout.strip().splitlines()[-1])
    assert returned == _summary(output_dir)
    assert returned["replicas"] == 2 and returned["steps"] == 1


# ----------------------------------------------------------------------------------------------
# Two worker processes


def _start_workers(data, output_dir, tmp_dir, *extra):
    """Starts two `multi_worker` processes on free local ports; returns them (chief first)."""
    hosts = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    workers = []
    for index in range(2):
        config = {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}
        args = _train_args(
            data, output_dir, "--distribute", "multi_worker", "--cpu-devices", "1", *extra
        )
        log = open(tmp_dir / f"worker{index}.log", "w", encoding="utf-8")
        workers.append(
            subprocess.Popen(
                _command(args),
                cwd=REPO_ROOT,
                env=_env("tensorflow", tmp_dir, TF_CONFIG=json.dumps(config)),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        log.close()
    return workers


def _wait_all(workers, tmp_dir, timeout=RUN_TIMEOUT):
    deadline = time.monotonic() + timeout
    try:
        for worker in workers:
            worker.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    logs = [(tmp_dir / f"worker{i}.log").read_text(encoding="utf-8") for i in range(2)]
    return [worker.returncode for worker in workers], logs


@pytest.mark.slow
def test_two_workers_train_and_only_the_chief_writes(data, tmp_path):
    output_dir, tmp_dir = tmp_path / "out", tmp_path / "tmp"
    tmp_dir.mkdir()
    codes, logs = _wait_all(_start_workers(data, output_dir, tmp_dir, "--epochs", "2"), tmp_dir)
    assert codes == [0, 0], "\n".join(log[-2000:] for log in logs)
    summary = _summary(output_dir)
    assert summary["distribute"] == "multi_worker" and summary["processes"] == 2
    assert summary["replicas"] == 2 and summary["per_replica_batch_size"] == 2
    assert summary["steps"] == 4
    assert sorted(os.listdir(output_dir)) == [
        "checkpoints", "model.h5", "model.keras", "train_summary.json", "training_log.csv",
    ]  # fmt: skip
    assert _log_epochs(output_dir) == [0, 1]
    assert os.listdir(output_dir / "checkpoints")
    # the other worker saved into a temporary folder that it removed
    assert [name for name in os.listdir(tmp_dir) if name.startswith("ssd-keras-")] == []
    assert "Saved model.keras" in logs[0] and "Saved model.keras" not in logs[1]


@pytest.mark.slow
def test_multi_worker_resumes_after_a_worker_is_killed(data, tmp_path):
    output_dir, tmp_dir = tmp_path / "out", tmp_path / "tmp"
    tmp_dir.mkdir()
    workers = _start_workers(data, output_dir, tmp_dir, "--epochs", "200")
    checkpoints = output_dir / "checkpoints"
    deadline = time.monotonic() + RUN_TIMEOUT
    try:
        while time.monotonic() < deadline and all(w.poll() is None for w in workers):
            if checkpoints.is_dir() and len(os.listdir(checkpoints)) >= 2:
                break
            time.sleep(0.5)
        assert all(w.poll() is None for w in workers), "a worker stopped before it was killed"
        workers[1].send_signal(signal.SIGKILL)  # the non-chief worker dies mid-run
        workers[1].wait()
        try:  # the chief cannot finish a step without it
            workers[0].wait(timeout=20)
        except subprocess.TimeoutExpired:
            workers[0].kill()
            workers[0].wait()
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    done = _log_epochs(output_dir)
    assert len(done) >= 2 and done == list(range(len(done)))
    assert not (output_dir / "model.keras").exists()
    latest = sorted(os.listdir(checkpoints))[-1]

    resume = ("--resume", str(checkpoints / latest), "--epochs", "1")
    codes, logs = _wait_all(_start_workers(data, output_dir, tmp_dir, *resume), tmp_dir)
    assert codes == [0, 0], "\n".join(log[-2000:] for log in logs)
    assert _log_epochs(output_dir) == [*done, len(done)]
    assert _summary(output_dir)["epochs"] == 1


@pytest.mark.slow
def test_two_jax_processes_train_like_one_process_with_two_devices(data, tmp_path):
    single = tmp_path / "single"
    args = _train_args(data, single, "--distribute", "data_parallel", "--cpu-devices", "2")
    result = _run_cli(args, "jax")
    assert result.returncode == 0, result.stderr[-3000:]

    output_dir, tmp_dir = tmp_path / "out", tmp_path / "tmp"
    tmp_dir.mkdir()
    (port,) = _free_ports(1)
    args = _train_args(data, output_dir, "--distribute", "data_parallel", "--cpu-devices", "1")
    processes = []
    for index in range(2):
        log = open(tmp_dir / f"worker{index}.log", "w", encoding="utf-8")
        env = {
            "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}",
            "JAX_NUM_PROCESSES": "2",
            "JAX_PROCESS_ID": str(index),
        }
        processes.append(
            subprocess.Popen(
                _command(args),
                cwd=REPO_ROOT,
                env=_env("jax", tmp_dir, **env),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        log.close()
    codes, logs = _wait_all(processes, tmp_dir)
    assert codes == [0, 0], "\n".join(log[-2000:] for log in logs)
    summary = _summary(output_dir)
    assert summary["processes"] == 2 and summary["replicas"] == 2
    # each process fed its half of the same global batches: the same training as one process
    assert summary["final_loss"] == pytest.approx(_summary(single)["final_loss"], rel=1e-5)
    assert [name for name in os.listdir(tmp_dir) if name.startswith("ssd-keras-")] == []
