"""The import graph of Enishi's own modules (docs/architecture.md, "Layers"): no cycles, the core
and the GraphQL layer never import a plugin, and the GraphQL layer imports none of the domain.

Read from the source with `ast`, every import statement counted wherever it stands (a function-level
import that hides a cycle is still a cycle); only imports under `if TYPE_CHECKING:` are left out,
since they never run (annotations)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.no_database  # reads the source only
ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"core": "enishi", "graphql": "enishi.graphql", "plugins": "enishi.plugins"}


def _modules() -> dict[str, Path]:
    modules = {}
    for folder, package in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([package, *parts])] = path
    return modules


def _type_checking_only(tree: ast.AST) -> set[int]:
    return {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and ast.unparse(block.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
        for statement in block.body
        for node in ast.walk(statement)
    }


def _imported(module: str, path: Path, node: ast.Import | ast.ImportFrom, modules) -> list[str]:
    """The modules an import statement names: `from x import y` names the module `x.y` if there
    is one, else `x` (y is a name defined in x)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join(package + ([node.module] if node.module else []))
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = _type_checking_only(tree)
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in skipped:
                for name in _imported(module, path, node, modules):
                    while name not in modules and "." in name:  # a name inside a module: the module
                        name = name.rsplit(".", 1)[0]
                    if name in modules and name != module:
                        targets.add(name)
        graph[module] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_no_import_cycles_among_enishi_modules():
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import cycles (each module with the imports that close its cycle):\n" + "\n".join(
        f"{module} -> {', '.join(sorted(graph[module] & set(component)))}" for component in found for module in component
    )


def test_the_core_and_the_graphql_layer_never_import_a_plugin():
    offending = sorted(
        f"{module} -> {target}"
        for module, targets in import_graph().items()
        if not module.startswith("enishi.plugins")
        for target in targets
        if target.startswith("enishi.plugins")
    )
    assert offending == []


def test_services_sit_below_the_runtime_and_know_no_graphql():
    """Services take a unit of work (`enishi.unit_of_work`); the runtime, the plugin host and the
    core's hooks are above them, the GraphQL layer above all of these."""
    above = ("enishi.runtime", "enishi.plugin_host", "enishi.hooks", "enishi.graphql")
    offending = sorted(
        f"{module} -> {target}"
        for module, targets in import_graph().items()
        if module.startswith("enishi.services")
        for target in targets
        if target.startswith(above)
    )
    assert offending == []


def test_the_graphql_layer_is_a_framework_that_knows_no_domain():
    """`enishi.graphql` composes and serves the schema; the core's types, queries and mutations
    (`enishi.schema`), like a plugin's, reach it through the hooks (docs/architecture.md)."""
    domain = ("enishi.schema", "enishi.services", "enishi.models", "enishi.hooks", "enishi.demo")
    offending = sorted(
        f"{module} -> {target}"
        for module, targets in import_graph().items()
        if module.startswith("enishi.graphql.")
        for target in targets
        if any(target == name or target.startswith(f"{name}.") for name in domain)
    )
    assert offending == []


def test_the_graph_sees_function_level_imports_and_finds_their_cycles():
    """The checks above are only as good as the graph: the CLI imports the HTTP app inside a
    command, and the plugin host importing the core's hooks again (as it once did) is a cycle."""
    graph = import_graph()
    assert "enishi.graphql.app" in graph["enishi.cli"]
    assert ["enishi.hooks", "enishi.plugin_host"] in [
        sorted(set(c) & {"enishi.hooks", "enishi.plugin_host"})
        for c in cycles({**graph, "enishi.plugin_host": graph["enishi.plugin_host"] | {"enishi.hooks"}})
    ]
