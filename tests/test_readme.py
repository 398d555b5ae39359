"""The README's quick start runs as printed.

The first ```python block after the "Quick start" heading of README.md is run as a script in a
fresh process, in an empty temporary folder (it writes its dataset there), with the repository on
`PYTHONPATH`, as a reader would run it with the project installed. It must finish without an
error within `TIME_LIMIT_S` and print the mAP line.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
HEADING = "## Quick start"
TIME_LIMIT_S = 300  # about 40 s on 2 cores; the limit only stops a hung run
MAX_LINES = 35  # the quick start must stay short


def quick_start_code(markdown: str) -> str:
    """The first ```python block after the quick-start heading.

    Raises:
        ValueError: If there is no such heading or block, or the block is not closed.
    """
    start = markdown.find(f"\n{HEADING}\n")
    if start < 0:
        raise ValueError(f"README.md has no {HEADING!r} heading")
    match = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE).search(markdown, start)
    if match is None:
        raise ValueError(f"no closed ```python block after {HEADING!r}")
    return match.group(1)


def test_extracts_the_first_python_block_after_the_heading():
    text = "# T\n```python\nx = 0\n```\n## Quick start\nText.\n```python\ny = 1\n```\n"
    assert quick_start_code(text) == "y = 1\n"
    with pytest.raises(ValueError, match="heading"):
        quick_start_code("```python\nx = 0\n```\n")


def test_quick_start_is_short_and_near_the_top():
    markdown = README.read_text(encoding="utf-8")
    code = quick_start_code(markdown)
    assert len(code.splitlines()) <= MAX_LINES
    end = markdown.index(code) + len(code)
    assert markdown[:end].count("\n") < 60, "the quick start should end within the first 60 lines"


def test_quick_start_runs(tmp_path):
    code = quick_start_code(README.read_text(encoding="utf-8"))
    script = tmp_path / "quick_start.py"
    script.write_text(code, encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # A process group of its own, so that a timeout also stops any worker processes it started.
    process = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=TIME_LIMIT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"the README quick start ran longer than {TIME_LIMIT_S} s")
    assert process.returncode == 0, (
        f"the README quick start failed (exit code {process.returncode}):\n{stderr[-4000:]}"
    )
    assert "VOC mAP:" in stdout
    assert (work / "traffic" / "labels_train.csv").is_file()
