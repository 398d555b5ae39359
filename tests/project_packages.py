"""The repository's top-level packages, for tests that walk every module.

A package is a folder of the repository root with an `__init__.py` (`tests` excepted), so a new
package is covered without being listed anywhere.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPLICATION_PACKAGE = "ssd_app"  # the CLI, the demo and the training budget
PACKAGES = tuple(
    sorted(path.parent.name for path in ROOT.glob("*/__init__.py") if path.parent.name != "tests")
)
LIBRARY_PACKAGES = tuple(name for name in PACKAGES if name != APPLICATION_PACKAGE)
