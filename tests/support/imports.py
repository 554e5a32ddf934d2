"""The project's own import graph, read from the source with ``ast`` (nothing is
imported), and its cycles: for the structural checks of tests/unit/test_structure.py.

An edge A -> B means module A imports module B of the same project: ``import B``,
``from B import name`` (an edge to ``B.name`` when that is a module of ours), or the
relative forms. Imports under ``if TYPE_CHECKING:`` are left out: they never run, so
they close no circle at run time. Imports inside functions count: a circle hidden in a
function body is still two modules that cannot be understood one without the other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path


def module_files(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of ``packages`` under ``root``."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement except those under ``if TYPE_CHECKING:`` (their else
    branch does run, so it is kept)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _resolve(name: str, node: ast.ImportFrom, is_package: bool) -> str:
    """The absolute module a (possibly relative) ``from`` import in module ``name``
    names."""
    if not node.level:
        return node.module or ""
    parts = name.split(".")
    # A module's relative base is its package; a package's (its __init__) is itself.
    base = parts[: len(parts) - node.level + (1 if is_package else 0)]
    return ".".join([*base, *([node.module] if node.module else [])])


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (see the module docstring)."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets: set[str] = set()
        for node in _runtime_imports(tree):
            if isinstance(node, ast.Import):
                targets.update(_known(alias.name, modules) for alias in node.names)
                continue
            source = _resolve(name, node, path.name == "__init__.py")
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                targets.add(sub if sub in modules else _known(source, modules))
        targets.discard("")
        targets.discard(name)
        graph[name] = targets
    return graph


def _known(name: str, modules: dict[str, Path]) -> str:
    """``name`` or its nearest enclosing module of ours; "" when it is not ours."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return ""


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each
    given as one circle through it, e.g. ``["a", "b", "a"]``; sorted, for stable
    messages."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(_circle(sorted(component), graph))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def _circle(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """One concrete circle through the component's first module (breadth-first, so
    the shortest one back to it)."""
    members = set(component)
    start = component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & members):
            if w == start:
                return [*paths[v], start]
            if w not in paths:
                paths[w] = [*paths[v], w]
                queue.append(w)
    return [*component, start]  # unreachable for a strongly connected component


def reachable(graph: dict[str, set[str]], roots: Iterable[str]) -> set[str]:
    """``roots`` and every project module they import, directly or not."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph.get(name, ()))
    return seen


def top_level_imports(path: Path) -> set[str]:
    """The top-level names of the absolute modules ``path`` imports at run time
    (``socket`` for ``import socket``, ``pyroute2`` for ``from pyroute2.x import y``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in _runtime_imports(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def importtime_chains(stderr: str) -> list[list[str]]:
    """``python -X importtime``'s report as import chains, outermost first: one chain
    per module imported, e.g. ``["ipmp_core.engine.prober", "random"]``.

    The report lists a module after everything it imported, indented two spaces per
    level, so a module's importer is the next line of lesser indentation."""
    rows: list[tuple[int, str]] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        field = line.rsplit("|", 1)[1]
        name = field.strip()
        if name == "imported package":
            continue
        rows.append(((len(field) - len(field.lstrip()) - 1) // 2, name))
    chains = []
    for i, (level, name) in enumerate(rows):
        chain = [name]
        want = level
        for later_level, later_name in rows[i + 1:]:
            if later_level < want:
                chain.append(later_name)
                want = later_level
                if want == 0:
                    break
        chains.append(chain[::-1])
    return chains
