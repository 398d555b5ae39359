"""Every `>>>` example in a docstring of the packages runs and prints what it shows.

The modules are found by reading the files, so an example added anywhere is checked without
being listed here.
"""

from __future__ import annotations

import doctest
import importlib

import pytest
from project_packages import PACKAGES, ROOT, module_files


def _modules_with_examples() -> list[str]:
    return [
        name
        for name, path in module_files(ROOT, PACKAGES).items()
        if ">>> " in path.read_text(encoding="utf-8")
    ]


MODULES = _modules_with_examples()


def test_examples_are_found():
    # The layers' examples show how to fill a raw prediction with the output-layout names.
    assert "keras_layers.keras_layer_DecodeDetections" in MODULES
    assert "keras_layers.keras_layer_DecodeDetectionsFast" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed (above)"
