"""Tests for misc_utils.atomic_write."""

import os
import stat

import pytest

from misc_utils.atomic_write import atomic_path


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
