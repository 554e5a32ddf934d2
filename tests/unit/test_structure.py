"""The product's structure, checked: no import cycle among our modules, an engine that
imports no I/O module, small modules, no block of code repeated. Each check also runs on
a small example that must fail it, so a check that can no longer fail is noticed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.imports import (
    cycles,
    import_graph,
    importtime_chains,
    module_files,
    reachable,
    top_level_imports,
)
from tests.support.repeats import find_repeats

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("ipmp_core", "ocf", "agents")
ENGINE = ROOT / "ipmp_core" / "engine"
# The engine is sans-I/O (docs/design.md): observations in, actions out, a fake clock in
# the tests. None of these may be imported by it, directly or through anything it imports.
IO_MODULES = frozenset({
    "asyncio", "socket", "select", "selectors", "ssl", "subprocess", "signal", "threading",
    "multiprocessing", "concurrent", "time", "logging", "shutil", "tempfile", "fcntl",
    "termios", "mmap", "pty", "sched", "http", "urllib", "pyroute2", "scapy", "lxml", "click",
})
# The hard limit of docs/design.md for a module of the product (aim: ~400).
MAX_MODULE_LINES = 500
MIN_REPEATED_LINES = 6


def product_modules() -> dict[str, Path]:
    return module_files(ROOT, PRODUCT)


# ------------------------------------------------------------------------- import cycles


def test_no_import_cycle_among_the_products_modules() -> None:
    found = cycles(import_graph(product_modules()))
    assert not found, "import cycles: " + "; ".join(" -> ".join(c) for c in found)


def _write_package(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_cycle_check_finds_a_cycle_but_not_a_type_checking_import(tmp_path: Path) -> None:
    _write_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg import b\n",
        "pkg/b.py": "def f():\n    from .c import x\n",
        "pkg/c.py": "import pkg.a\nx = 1\n",
        "pkg/d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import e\n",
        "pkg/e.py": "from pkg.d import y\n",
    })
    graph = import_graph(module_files(tmp_path, ["pkg"]))
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]


# ------------------------------------------------------------------------- layers

# Data flows one way (docs/design.md, "Map of the rooms"): a room never imports one above
# it. Shared modules (values, constants, errors, model) sit below all of them.
FORBIDDEN_IMPORTS = {
    "ipmp_core.net": ("ipmp_core.engine", "ipmp_core.daemon", "ipmp_core.cli", "agents", "ocf"),
    "ipmp_core.engine": ("ipmp_core.daemon", "ipmp_core.net", "ipmp_core.cli",
                         "ipmp_core.control_client", "agents", "ocf"),
    "ipmp_core.daemon": ("ipmp_core.cli", "agents", "ocf"),
    "ocf": ("ipmp_core", "agents"),
    "ipmp_core": ("agents",),
}


def _inside(name: str, room: str) -> bool:
    return name == room or name.startswith(room + ".")


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{module} -> {target}" for module, targets in graph.items()
                  for target in targets for room, above in FORBIDDEN_IMPORTS.items()
                  if _inside(module, room) and any(_inside(target, a) for a in above))


def test_no_room_imports_a_room_above_it() -> None:
    found = upward_imports(import_graph(product_modules()))
    assert not found, "imports against the flow: " + "; ".join(found)


def test_the_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    _write_package(tmp_path, {
        "ipmp_core/__init__.py": "",
        "ipmp_core/net/__init__.py": "",
        "ipmp_core/net/x.py": "from ipmp_core.engine import y\n",
        "ipmp_core/engine/__init__.py": "",
        "ipmp_core/engine/y.py": "from ipmp_core.net import x\n",
    })
    graph = import_graph(module_files(tmp_path, ["ipmp_core"]))
    assert upward_imports(graph) == ["ipmp_core.engine.y -> ipmp_core.net.x",
                                     "ipmp_core.net.x -> ipmp_core.engine.y"]


# ------------------------------------------------------------------------- sans-I/O engine


def engine_modules() -> list[str]:
    """Every module of the engine package, found on disk (whatever its files are called)."""
    return sorted(name for name, path in product_modules().items()
                  if path.parent == ENGINE or path == ENGINE / "__init__.py")


def io_imports_at_import_time(modules: list[str]) -> list[list[str]]:
    """The import chains, per ``python -X importtime``, that end in an I/O module when
    ``modules`` are imported in a fresh interpreter. Without the site module (-S): it
    would import some of them itself before our code runs; the project comes from the
    checkout (PYTHONPATH)."""
    code = "".join(f"import {m}\n" for m in modules)
    proc = subprocess.run([sys.executable, "-S", "-X", "importtime", "-c", code],
                          env={"PYTHONPATH": str(ROOT)}, cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # Chains from the interpreter's own start-up have no module of ours at their root.
    return [chain for chain in importtime_chains(proc.stderr)
            if chain[0].split(".")[0] in PRODUCT and chain[-1].split(".")[0] in IO_MODULES]


def preloaded_io_imports(modules: list[str]) -> dict[str, set[str]]:
    """I/O modules the interpreter has loaded before any code runs (``time``, for one) are
    missing from -X importtime's report: what our modules reached from ``modules`` import
    of them, read from their source."""
    files = product_modules()
    return {name: found for name in sorted(reachable(import_graph(files), modules))
            if (found := top_level_imports(files[name]) & IO_MODULES)}


def test_the_engine_imports_no_io_module() -> None:
    modules = engine_modules()
    assert len(modules) > 3, modules  # the package was found
    chains = io_imports_at_import_time(modules)
    assert not chains, "engine imports of I/O modules: " + "; ".join(
        " -> ".join(c) for c in chains)
    preloaded = preloaded_io_imports(modules)
    assert not preloaded, f"engine modules importing I/O modules: {preloaded}"


def test_the_io_import_check_sees_a_module_that_does_io() -> None:
    chains = io_imports_at_import_time(["ipmp_core.control_client"])
    assert any(chain[-1] == "socket" for chain in chains), chains
    assert "time" in preloaded_io_imports(["ipmp_core.net.icmp"])["ipmp_core.net.icmp"]


# ------------------------------------------------------------------------- module size


def test_no_module_of_the_product_is_over_the_limit() -> None:
    sizes = {path.relative_to(ROOT): len(path.read_text(encoding="utf-8").splitlines())
             for path in product_modules().values()}
    assert len(sizes) > 20, sizes  # the product was found
    over = {str(p): n for p, n in sorted(sizes.items()) if n > MAX_MODULE_LINES}
    assert not over, f"modules over {MAX_MODULE_LINES} lines: {over}"


# ------------------------------------------------------------------------- repeated blocks


def test_no_block_of_code_is_repeated_in_the_product() -> None:
    paths = [p.relative_to(ROOT) for p in product_modules().values()]
    found = find_repeats([ROOT / p for p in paths], MIN_REPEATED_LINES)
    assert not found, "repeated blocks:\n" + "\n".join(
        str(r).replace(f"{ROOT}/", "") for r in found)


SHAPE_A = '''
"""A module."""
import os


def total(items, key):
    """Sum one field."""
    result = 0
    for item in items:  # every one
        if item.get(key) is None:
            continue
        result += item[key] * 2
    log("total", result)
    return result
'''
# SHAPE_A's function with other names and numbers, other comments and no docstring.
SHAPE_B = '''
import sys


def count(rows, field):
    n = 0

    for row in rows:
        if row.get(field) is None:
            continue  # skip
        n += row[field] * 3
    log("count", n)
    return n
'''


@pytest.mark.parametrize("other, exact, starts", [(SHAPE_A, True, 6), (SHAPE_B, False, 5)])
def test_the_repeat_check_finds_a_copied_block(tmp_path: Path, other: str, exact: bool,
                                               starts: int) -> None:
    (tmp_path / "a.py").write_text(SHAPE_A)
    (tmp_path / "b.py").write_text(other)
    found = find_repeats([tmp_path / "a.py", tmp_path / "b.py"], MIN_REPEATED_LINES)
    assert [(r.length, r.exact) for r in found] == [(8, exact)]
    assert [(p.name, a) for p, a, _ in found[0].where] == [("a.py", 6), ("b.py", starts)]


def test_the_repeat_check_ignores_a_shorter_block_and_declarations(tmp_path: Path) -> None:
    # Five lines of SHAPE_A's body only; and two dataclasses of the same field types.
    (tmp_path / "a.py").write_text(SHAPE_A)
    (tmp_path / "b.py").write_text(
        "def f(items, key):\n    result = 0\n    for item in items:\n"
        "        if item.get(key) is None:\n            continue\n    return 1\n")
    decl = "@dataclass\nclass {}:\n    a: int\n    b: str\n    c: int\n    d: str\n"
    (tmp_path / "c.py").write_text(decl.format("One") + "\n\n" + decl.format("Two"))
    assert find_repeats(list(tmp_path.glob("*.py")), MIN_REPEATED_LINES) == []
