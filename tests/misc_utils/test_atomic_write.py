"""Tests for misc_utils.atomic_write."""

import os
import signal
import stat
import subprocess
import sys

import pytest

from misc_utils.atomic_write import _host_tag, atomic_path, remove_stale_partials


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_success_replaces_the_destination_with_default_permissions(tmp_path):
    destination = tmp_path / "data.h5"
    destination.write_text("old")
    umask = os.umask(0o022)
    try:
        with atomic_path(destination) as temporary:
            assert os.path.dirname(temporary) == str(tmp_path)
            assert not os.path.basename(temporary).startswith("data.h5")
            with open(temporary, "w") as handle:
                handle.write("new")
    finally:
        os.umask(umask)
    assert destination.read_text() == "new"
    assert _mode(destination) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.h5"]


def test_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    destination = tmp_path / "data.h5"
    destination.write_text("old")
    with pytest.raises(RuntimeError, match="interrupted"), atomic_path(destination) as temporary:
        with open(temporary, "w") as handle:
            handle.write("half")
        raise RuntimeError("interrupted")
    assert destination.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.h5"]


def test_failure_without_an_old_file_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "new.h5"):
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_temporary_name_carries_host_and_pid_and_stale_ones_are_removed(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    stale = tmp_path / f".model.keras.{_host_tag()}.{process.pid}.abc_1234.partial.keras"
    stale.write_text("half")
    with atomic_path(tmp_path / "model.keras", keep_extension=True) as temporary:
        name = os.path.basename(temporary)
        assert name.startswith(f".model.keras.{_host_tag()}.{os.getpid()}.")
        assert name.endswith(".partial.keras")
        assert not stale.exists()
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL  # removes it on SIGTERM
        assert remove_stale_partials(tmp_path / "model.keras") == []  # this process is alive
        with open(temporary, "w") as handle:
            handle.write("new")
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]


def test_a_program_sigterm_handler_stays_in_charge(tmp_path):
    def handler(signum, frame):
        pass

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        with atomic_path(tmp_path / "data.h5"):
            assert signal.getsignal(signal.SIGTERM) is handler
        assert signal.getsignal(signal.SIGTERM) is handler
    finally:
        signal.signal(signal.SIGTERM, previous)
