"""Runs every tutorial notebook top to bottom and checks how they are committed.

Each notebook is executed by nbclient in a fresh ``python3`` kernel started with this
interpreter (jupyter_client replaces a kernelspec's ``python`` with ``sys.executable``), with
the working directory ``notebooks/``, its output files in a per-test temporary folder
(``SSD_NOTEBOOK_OUTPUT_DIR``) and its heavy steps turned down (``SSD_NOTEBOOK_FAST=1``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 300
# Notebooks whose fast run takes over ~20 s on 2 cores: run with `pytest -m slow`.
SLOW_NOTEBOOKS = frozenset({"ssd7_training"})
KERNEL_NAME = "python3"


def _kernel_env(output_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "MPLBACKEND"}
    env.update(
        SSD_NOTEBOOK_FAST="1",
        SSD_NOTEBOOK_OUTPUT_DIR=str(output_dir),
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    return env


def test_notebooks_exist():
    names = {path.name for path in NOTEBOOKS}
    assert {
        "data_generator_tutorial.ipynb",
        "weight_sampling_tutorial.ipynb",
        "ssd300_inference.ipynb",
        "ssd512_inference.ipynb",
    } <= names


def test_kernel_runs_this_interpreter():
    probe = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("import sys; print(sys.prefix)")]
    )
    NotebookClient(probe, timeout=CELL_TIMEOUT_S, kernel_name=KERNEL_NAME).execute()
    assert probe.cells[0].outputs[0]["text"].strip() == sys.prefix


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path: Path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code_cells, f"{path.name} has no code"
    for index, cell in enumerate(code_cells):
        assert cell.outputs == [], f"{path.name}: code cell {index} has outputs"
        assert cell.execution_count is None, f"{path.name}: code cell {index} has a count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_markdown_cells_are_plain_markdown(path: Path):
    # A stray prefix left by a notebook converter ("md# Title") renders as text, not a heading.
    notebook = nbformat.read(path, as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown":
            assert not cell.source.startswith("md"), f"{path.name}: cell {index} starts with 'md'"


def _run_params() -> list:
    return [
        pytest.param(
            path, id=path.stem, marks=[pytest.mark.slow] if path.stem in SLOW_NOTEBOOKS else []
        )
        for path in NOTEBOOKS
    ]


@pytest.mark.parametrize("path", _run_params())
def test_notebook_runs(path: Path, tmp_path: Path):
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name=KERNEL_NAME,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
        allow_errors=False,
    )
    client.execute(env=_kernel_env(tmp_path / "outputs"))
    executed = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in executed)
    prefix_outputs = "".join(
        out.get("text", "") for out in executed[0].outputs if out.output_type == "stream"
    )
    assert str(tmp_path / "outputs") in prefix_outputs, "the notebook ignored its output folder"
    figures = [
        out
        for cell in executed
        for out in cell.outputs
        if out.output_type == "display_data" and "image/png" in out.get("data", {})
    ]
    assert figures, f"{path.name} drew no figure"
