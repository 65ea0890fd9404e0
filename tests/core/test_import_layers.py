"""No import cycle between packages: the layers stay a stack.

Every ``import`` of a ``looped_hrm`` module in ``looped_hrm/`` and ``plugins/`` (at any depth, lazy ones
included) is an edge from the importing package to the imported one. A node is a package
(``looped_hrm.training``, ``looped_hrm.plugins.tasks.sudoku``, ...); a module directly in the root
(``looped_hrm.config``, ``looped_hrm.commands``, ...) is its own node, since the root is a bag of small
modules rather than a layer. A cycle (e.g. ``training -> evaluation -> training``) fails with the import
lines that close it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {"looped_hrm": ROOT / "looped_hrm", "looped_hrm.plugins": ROOT / "plugins"}


def module_files() -> dict[str, Path]:
    out = {}
    for prefix, folder in SOURCES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join([prefix, *parts])] = path
    return out


def node_of(module: str, modules: dict[str, Path]) -> str:
    """The package a module belongs to (a root-level module is its own node)."""
    path = modules[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    return module if package == "looped_hrm" else package


def resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest known module that ``name`` (a module or ``module.attribute``) starts with."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports(module: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    base = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base.rsplit(".", node.level - 1)[0] if node.level > 1 else base
                prefix = f"{anchor}.{node.module}" if node.module else anchor
            else:
                prefix = node.module or ""
            names = [f"{prefix}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            target = resolve(name, modules)
            if target is not None:
                found.append((target, node.lineno))
    return found


def package_graph() -> dict[str, dict[str, list[str]]]:
    """``graph[a][b]``: the import lines (``file:line``) by which package ``a`` imports package ``b``."""
    modules = module_files()
    graph: dict[str, dict[str, list[str]]] = {}
    for module, path in modules.items():
        source = node_of(module, modules)
        graph.setdefault(source, {})
        for target, line in imports(module, path, modules):
            dest = node_of(target, modules)
            if dest != source:
                graph[source].setdefault(dest, []).append(f"{path.relative_to(ROOT)}:{line}")
    return graph


def find_cycle(graph: dict[str, dict[str, list[str]]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_between_packages():
    graph = package_graph()
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle between packages:\n" + "\n".join(
        f"  {a} -> {b}  ({', '.join(sorted(set(graph[a][b])))})" for a, b in zip(cycle, cycle[1:])
    )


def test_the_shared_step_sits_below_training_and_evaluation():
    graph = package_graph()
    for user in ("looped_hrm.training", "looped_hrm.evaluation"):
        assert "looped_hrm.engine" in graph[user]
    assert not {"looped_hrm.training", "looped_hrm.evaluation"} & set(graph["looped_hrm.engine"])


def test_the_cycle_finder_sees_a_cycle():
    graph = {"a": {"b": ["a.py:1"]}, "b": {"c": ["b.py:1"]}, "c": {"a": ["c.py:3"]}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b": []}, "b": {}}) is None


TOP_FLOOR = ("looped_hrm.commands", "looped_hrm.bench")
"""The command line: nothing below it imports it (``python -m looped_hrm``'s ``__main__`` is its door)."""

LAYERS = {
    "looped_hrm.runner": {"looped_hrm.report", "looped_hrm.commands", "looped_hrm.bench"},
    "looped_hrm.report": {"looped_hrm.runner", "looped_hrm.commands", "looped_hrm.bench"},
    "looped_hrm.experiment": {"looped_hrm.runner", "looped_hrm.report", "looped_hrm.commands", "looped_hrm.bench"},
}
"""What each floor of the top must not import: the grid runner and the report read the experiment's
records side by side without knowing each other, and the experiment knows neither."""


def test_the_top_floor_names_its_jobs_and_nothing_climbs_back_up():
    graph = package_graph()
    for package, forbidden in LAYERS.items():
        bad = {dest: lines for dest, lines in graph[package].items() if dest in forbidden}
        assert not bad, f"{package} imports {bad}"
    for package, edges in graph.items():
        if package not in (*TOP_FLOOR, "looped_hrm.__main__"):
            bad = {dest: lines for dest, lines in edges.items() if dest in TOP_FLOOR}
            assert not bad, f"{package} imports the command line: {bad}"


PLUGINS = "looped_hrm.plugins"
HOST = ("looped_hrm.registry", "looped_hrm.resolve")
"""What only the host may use to find plugins: a plugin gets what it needs handed over (a wrapped
policy arrives built: `HaltingSpec.wraps`), so it works in any host that loads it."""


def module_imports() -> dict[str, list[tuple[str, str]]]:
    """module -> [(imported module, file:line)] for every module of the core and the plugins."""
    modules = module_files()
    return {
        module: [(target, f"{path.relative_to(ROOT)}:{line}") for target, line in imports(module, path, modules)]
        for module, path in modules.items()
    }


def test_the_core_never_imports_a_plugin():
    """The core asks the registry for plugins by name; it never imports one (the built-ins included)."""
    bad = [
        f"{module} imports {target} ({where})"
        for module, found in module_imports().items()
        if not module.startswith(PLUGINS)
        for target, where in found
        if target.startswith(PLUGINS)
    ]
    assert not bad, "\n".join(bad)


def test_plugins_never_use_the_registry():
    bad = [
        f"{module} imports {target} ({where})"
        for module, found in module_imports().items()
        if module.startswith(PLUGINS)
        for target, where in found
        if target in HOST
    ]
    assert not bad, "\n".join(bad)
