"""The import graph of the whole tree, module-level and function-level imports alike, has no cycle; commands stay apart.

Imports under `if TYPE_CHECKING:` are left out: they never run. A cycle is a strongly connected component of more
than one module.
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("training", "data_prep", "stages", "eval", "pipeline")
COMMANDS = "pipeline.commands"
# Cycles tolerated on purpose, each as its set of modules: none.
KNOWN_CYCLES: set[frozenset[str]] = set()
# Command -> command imports tolerated on purpose: none (shared code lives in pipeline.commands.common or
# pipeline.drivers).
KNOWN_COMMAND_IMPORTS: set[tuple[str, str]] = set()


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the tree's packages (a package is its __init__)."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement that can run, at any depth (functions, classes, branches), minus TYPE_CHECKING blocks."""
    found, todo = [], [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            todo.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return found


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The tree's modules that `name` imports: `from a import b` counts a.b when it is a module, else a."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            targets = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source for alias in node.names]
        out.update(t for t in targets if t in modules and t != name)
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the tree's modules it imports."""
    modules = module_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.add(frozenset(component))
    return found


def test_cycle_finder_sees_a_function_level_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == {frozenset("abc")}
    assert cycles({"a": {"b"}, "b": set()}) == set()


def test_import_reader_follows_relative_function_level_and_skips_type_checking(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text("from typing import TYPE_CHECKING\nfrom .b import thing\nif TYPE_CHECKING:\n    from .c import T\n"
                      "def f():\n    from ..d import e\n")
    modules = {"p.q.mod": source, "p.q.b": source, "p.q.c": source, "p.d": source, "p.d.e": source}
    assert imports_of("p.q.mod", source, modules) == {"p.q.b", "p.d.e"}


def test_no_import_cycle_in_the_tree():
    graph = import_graph()
    assert "pipeline.commands.generate" in graph and "pipeline.orchestrator" in graph["pipeline.commands.generate"]
    found = cycles(graph)
    new = sorted(sorted(c) for c in found - KNOWN_CYCLES)
    assert not new, f"import cycles: {new}"
    assert not KNOWN_CYCLES - found, f"listed cycles that are gone (remove them from KNOWN_CYCLES): {KNOWN_CYCLES - found}"


def test_commands_import_only_the_shared_command_module():
    graph = import_graph()
    allowed = {COMMANDS, f"{COMMANDS}.common"}
    crossing = {(name, target) for name, targets in graph.items() if name.startswith(COMMANDS + ".")
                for target in targets if target.startswith(COMMANDS + ".") and target not in allowed}
    assert not crossing - KNOWN_COMMAND_IMPORTS, f"commands importing commands: {sorted(crossing - KNOWN_COMMAND_IMPORTS)}"
    assert not KNOWN_COMMAND_IMPORTS - crossing, f"listed imports that are gone: {sorted(KNOWN_COMMAND_IMPORTS - crossing)}"
    assert ("pipeline.commands.demo", "pipeline.cli") not in {(n, t) for n, ts in graph.items() for t in ts}
