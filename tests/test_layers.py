"""The package's import graph: folders follow the data, imports only point down, no cycles."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "tiwcli"

# lower layers first; a module may import its own group and the groups of lower layers only
LAYERS: list[set[str]] = [
    {
        "__init__",
        "allocator",
        "errors",
        "paths",
        "choices",
        "config",
        "timing",
        "console",
        "runtime",
        "samples",
    },
    {"io", "models"},
    {"faces", "checkpoint"},
    {"dataset"},
    {"inference", "training"},
    {"evaluation"},
    {"app"},
    {"commands"},
    {"cli"},
    {"__main__"},
]


def _group(module: str) -> str:
    """The folder (or root module) a module belongs to; the root's shared modules are one group."""
    parts = module.split(".")
    group = parts[1] if len(parts) > 1 else "__init__"
    return "core" if group in LAYERS[0] else group


def _rank(group: str) -> int:
    if group == "core":
        return 0
    return next(index for index, layer in enumerate(LAYERS) if group in layer)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Every tiwcli module a file imports, at its top or inside functions (`from package import
    submodule` counts as the submodule)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tiwcli"):
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                names.add(submodule if submodule in modules else node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if alias.name.startswith("tiwcli"))
    return names


def _graph() -> dict[str, set[str]]:
    files = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {
        name: {module for module in _imports(path, set(files)) if module in files and module != name}
        for name, path in files.items()
    }


def test_every_folder_has_a_layer():
    groups = {_group(name) for name in _graph()} - {"core"}
    assert groups <= set().union(*LAYERS), groups - set().union(*LAYERS)


def test_imports_only_point_down():
    upward = [
        f"{name} -> {target}"
        for name, targets in _graph().items()
        for target in targets
        if _group(target) != _group(name) and _rank(_group(target)) >= _rank(_group(name))
    ]
    assert not upward, upward


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles
