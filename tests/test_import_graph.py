"""Checks of the first-party import graph: the library never imports the application, and
neither modules nor top-level packages import each other in a circle.

Every `.py` file of the packages is parsed with `ast`, and every import in it counts, at module
level or inside a function (a lazy import still ties the two modules together):
`import a.b`, `from a.b import c` and relative `from . import c` / `from .b import c`. An
imported name that is a module (`from pkg import sub`) counts as that module, any other name as
the module it comes from (`from pkg import name` is an import of `pkg/__init__.py`). A package's
`__init__.py` importing its own submodules is no cycle unless one of them imports it back.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest
from project_packages import APPLICATION_PACKAGE, LIBRARY_PACKAGES, PACKAGES, ROOT, module_files

# ----------------------------------------------------------------------------------------------
# Collecting the graph


def _known_prefix(name: str, modules: Mapping[str, Path]) -> str | None:
    """The longest dotted prefix of `name` that is a first-party module, or None."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def _from_base(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module that `node` (`from X import ...`) imports from."""
    if node.level == 0:
        return node.module or ""
    package = module if is_package else module.rpartition(".")[0]
    parts = package.split(".")
    anchor = ".".join(parts[: len(parts) - (node.level - 1)])
    return f"{anchor}.{node.module}" if node.module else anchor


def imports_of(module: str, modules: Mapping[str, Path]) -> set[str]:
    """The first-party modules that `module` imports anywhere in its file (itself excluded)."""
    path = modules[module]
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str | None] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(_known_prefix(alias.name, modules) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _from_base(module, is_package, node)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in modules else _known_prefix(base, modules))
    return {name for name in found if name is not None and name != module}


def import_graph(root: Path, packages: Iterable[str]) -> dict[str, set[str]]:
    """Module -> the first-party modules it imports, for every module under `packages`."""
    modules = module_files(root, packages)
    return {module: imports_of(module, modules) for module in modules}


def package_graph(graph: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    """The module graph collapsed to top-level package names (edges within a package dropped)."""
    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        top = module.partition(".")[0]
        edges = packages.setdefault(top, set())
        edges.update(t.partition(".")[0] for t in targets if t.partition(".")[0] != top)
    return packages


# ----------------------------------------------------------------------------------------------
# Cycles


def _strongly_connected(graph: Mapping[str, Iterable[str]]) -> list[set[str]]:
    """The strongly connected components of `graph` (Tarjan's algorithm, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components


def find_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """One shortest cycle `[a, b, ..., a]` for each group of nodes that reach each other.

    Self-loops are ignored. The cycle starts at the group's first node in sorted order, so the
    result does not depend on the order of `graph`.
    """
    cycles = []
    for component in _strongly_connected(graph):
        if len(component) < 2:
            continue
        cycles.append(_cycle_through(graph, component, min(component)))
    return cycles


def _cycle_through(graph: Mapping[str, Iterable[str]], component: set[str], start: str) -> list:
    """A shortest path `start -> ... -> start` inside `component` (breadth-first search)."""
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph.get(node, ())):
            if child == start and node != start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if child in component and child != start and child not in previous:
                previous[child] = node
                queue.append(child)
    raise AssertionError(f"{start} is in a strongly connected component but on no cycle")


def format_cycles(cycles: Iterable[list[str]]) -> str:
    """One readable chain `a -> b -> a` per line."""
    return "\n".join(" -> ".join(cycle) for cycle in cycles)


# ----------------------------------------------------------------------------------------------
# Tests of the tools


def test_find_cycles_on_toy_graphs():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert find_cycles({"a": {"a"}}) == []  # a self-loop is no cycle between modules
    graph = {"d": {"a"}, "a": {"b"}, "b": {"c", "a"}, "c": {"a"}, "e": {"f"}, "f": {"e"}}
    cycles = find_cycles(graph)
    assert sorted(cycles) == [["a", "b", "a"], ["e", "f", "e"]]
    assert format_cycles([["a", "b", "c", "a"]]) == "a -> b -> c -> a"
    assert find_cycles({"x": {"y"}, "y": {"z"}, "z": {"x"}}) == [["x", "y", "z", "x"]]


def test_package_graph_collapses_modules():
    graph = {"p.a": {"p.b", "q.c"}, "p.b": set(), "q.c": {"p"}, "p": set()}
    assert package_graph(graph) == {"p": {"q"}, "q": {"p"}}


def test_imports_are_resolved(tmp_path: Path):
    files = {
        "pkg/__init__.py": "from pkg.sub import helper\nfrom . import other\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/mod.py": (
            "import os\nimport pkg.other\nfrom .. import other\nfrom . import deep\n"
            "def lazy():\n    from pkg import VALUE\n    from lib.x import y\n"
        ),
        "pkg/sub/deep.py": "from .mod import thing\nfrom pkg.sub import mod\n",
        "pkg/other.py": "import lib\n",
        "lib/__init__.py": "",
        "lib/x.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    graph = import_graph(tmp_path, ("pkg", "lib"))
    assert graph == {
        "pkg": {"pkg.sub", "pkg.other"},
        "pkg.sub": set(),
        "pkg.sub.mod": {"pkg.other", "pkg.sub.deep", "pkg", "lib.x"},
        "pkg.sub.deep": {"pkg.sub.mod"},
        "pkg.other": {"lib"},
        "lib": set(),
        "lib.x": set(),
    }
    # `pkg` imports `pkg.sub` and `pkg.sub.mod` imports `pkg`, but `pkg.sub` imports neither.
    assert find_cycles(graph) == [["pkg.sub.deep", "pkg.sub.mod", "pkg.sub.deep"]]


# ----------------------------------------------------------------------------------------------
# Tests of the project


@pytest.fixture(scope="module")
def project_graph() -> dict[str, set[str]]:
    graph = import_graph(ROOT, PACKAGES)
    assert len(graph) > 50, "the scan should find the project's modules"
    assert {"ssd_app.cli", "misc_utils.atomic_write", "data_generator"} <= graph.keys()
    return graph


def test_library_never_imports_the_application(project_graph):
    offenders = sorted(
        f"{module} imports {target}"
        for module, targets in project_graph.items()
        if module.partition(".")[0] in LIBRARY_PACKAGES
        for target in targets
        if target.partition(".")[0] == APPLICATION_PACKAGE
    )
    assert not offenders, "The library must not import ssd_app:\n" + "\n".join(offenders)


def test_no_module_import_cycles(project_graph):
    cycles = find_cycles(project_graph)
    assert not cycles, "Modules importing each other in a circle:\n" + format_cycles(cycles)


def test_no_package_import_cycles(project_graph):
    cycles = find_cycles(package_graph(project_graph))
    assert not cycles, "Packages importing each other in a circle:\n" + format_cycles(cycles)


def test_the_package_list_is_found():
    """The checks above walk every top-level package; an empty list would check nothing."""
    assert APPLICATION_PACKAGE in PACKAGES
    assert {"models", "keras_layers", "ssd_encoder_decoder", "data_generator"} <= set(PACKAGES)
