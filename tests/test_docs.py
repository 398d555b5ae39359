"""Checks of the documentation's cross references.

Users do not have the internal material the code was checked against, so no source or
documentation file may refer to it (a file name or numbered item labels such as "Q12"); links
into `docs/differences.md` must land on an anchor that the document defines.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DIFFERENCES = ROOT / "docs" / "differences.md"
SCANNED_SUFFIXES = (".py", ".md", ".ipynb")
# Folders that are not the project's own text: environments, build output, reference data.
SKIPPED_DIRS = {".venv", ".git", "tests/data", "build", "dist", "node_modules", "__pycache__"}

FORBIDDEN = re.compile(r"ORIGINAL_API|\bQ\d{1,2}\b")
DIFFERENCES_LINK = re.compile(r"differences\.md#([A-Za-z0-9_-]+)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")
EXPLICIT_ANCHOR = re.compile(r"""<a\s+(?:id|name)\s*=\s*["']([^"']+)["']""")
FENCE = re.compile(r"^\s*(```|~~~)")


def _skipped_dir(relative: str, name: str) -> bool:
    return (
        relative in SKIPPED_DIRS
        or name in SKIPPED_DIRS
        or name.startswith(".")
        or name.endswith(".egg-info")
    )


def _project_files() -> list[Path]:
    """The repository's `.py`, `.md` and `.ipynb` files, without environments and test data."""
    found = []
    for folder, dirs, files in os.walk(ROOT):
        base = Path(folder)
        dirs[:] = [
            name
            for name in dirs
            if not _skipped_dir((base / name).relative_to(ROOT).as_posix(), name)
        ]
        found.extend(base / name for name in files if name.endswith(SCANNED_SUFFIXES))
    return sorted(found)


def _notebook_text(path: Path) -> str:
    """The cell sources and text outputs of a notebook (not embedded images, whose base64 text
    could contain any letter sequence)."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    pieces = []
    for cell in notebook.get("cells", []):
        pieces.append("".join(cell.get("source", [])))
        for output in cell.get("outputs", []):
            pieces.append("".join(output.get("text", [])))
            pieces.append("".join(output.get("data", {}).get("text/plain", [])))
    return "\n".join(pieces)


def _text(path: Path) -> str:
    if path.suffix == ".ipynb":
        return _notebook_text(path)
    return path.read_text(encoding="utf-8")


def github_slug(heading: str, seen: dict[str, int]) -> str:
    """The anchor GitHub gives a Markdown heading (duplicates get ``-1``, ``-2``, ...)."""
    text = re.sub(r"<[^>]+>", "", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
    count = seen.get(slug, 0)
    seen[slug] = count + 1
    return slug if count == 0 else f"{slug}-{count}"


def document_anchors(markdown: str) -> set[str]:
    """Heading slugs and explicit ``<a id="...">`` anchors of a Markdown document."""
    anchors, seen, in_fence = set(), {}, False
    for line in markdown.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        anchors.update(EXPLICIT_ANCHOR.findall(line))
        heading = HEADING.match(line)
        if heading:
            anchors.add(github_slug(heading.group(1), seen))
    return anchors


def test_slug_rules():
    seen = {}
    slug = github_slug("Kept: `iou` applies `border_pixels`", seen)
    assert slug == "kept-iou-applies-border_pixels"
    assert github_slug("Keras 3 API changes", seen) == "keras-3-api-changes"
    assert github_slug("Keras 3 API changes", seen) == "keras-3-api-changes-1"
    text = '# Title\n<a id="custom-id"></a>\n```\n# not a heading\n```\n'
    assert document_anchors(text) == {"title", "custom-id"}


def test_scan_finds_files():
    files = {path.relative_to(ROOT).as_posix() for path in _project_files()}
    assert {"README.md", "docs/differences.md", "tests/test_docs.py"} <= files
    assert not any(name.startswith((".venv/", "tests/data/")) for name in files)


def test_no_references_to_internal_material():
    offenders = []
    for path in _project_files():
        if path == Path(__file__).resolve():
            continue
        for number, line in enumerate(_text(path).splitlines(), start=1):
            match = FORBIDDEN.search(line)
            if match:
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)!r}")
    assert not offenders, (
        "Describe the behaviour or link docs/differences.md instead of:\n" + "\n".join(offenders)
    )


@pytest.fixture(scope="module")
def differences_anchors() -> set[str]:
    return document_anchors(DIFFERENCES.read_text(encoding="utf-8"))


def test_differences_links_resolve(differences_anchors):
    broken = []
    for path in _project_files():
        if path == Path(__file__).resolve():
            continue
        for number, line in enumerate(_text(path).splitlines(), start=1):
            for anchor in DIFFERENCES_LINK.findall(line):
                if anchor not in differences_anchors:
                    broken.append(f"{path.relative_to(ROOT)}:{number}: #{anchor}")
    assert not broken, "Unknown docs/differences.md anchors:\n" + "\n".join(broken)


def test_internal_links_of_differences_resolve(differences_anchors):
    text = DIFFERENCES.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(#([A-Za-z0-9_-]+)\)", text)
    assert targets, "docs/differences.md should link its items"
    missing = sorted(set(targets) - differences_anchors)
    assert not missing, f"docs/differences.md links to undefined anchors: {missing}"


def test_every_item_has_an_explicit_anchor():
    """Items are linked from docstrings by id, so each item heading carries a fixed id."""
    lines = DIFFERENCES.read_text(encoding="utf-8").splitlines()
    unanchored = [
        line
        for previous, line in itertools.pairwise(lines)
        if line.startswith("### ") and not EXPLICIT_ANCHOR.search(previous)
    ]
    assert not unanchored, f"Item headings without an <a id> line before them: {unanchored}"
