"""The repository's top-level packages, for tests that walk every module.

A package is a folder of the repository root with an `__init__.py` (`tests` excepted), so a new
package is covered without being listed anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPLICATION_PACKAGE = "ssd_app"  # the CLI, the demo and the training budget
PACKAGES = tuple(
    sorted(path.parent.name for path in ROOT.glob("*/__init__.py") if path.parent.name != "tests")
)
LIBRARY_PACKAGES = tuple(name for name in PACKAGES if name != APPLICATION_PACKAGE)


def module_files(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Dotted module name -> file of every `.py` file under `packages` (subpackages included;
    a package's `__init__.py` is the package's own name)."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules
