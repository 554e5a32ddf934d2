"""Runtime requirements are exactly what the product imports: setup.cfg's
install_requires against the imports of ipmp_core, ocf and agents (scapy, pytest and
ruff belong to the test extra, never to an installed node)."""

from __future__ import annotations

import ast
import configparser
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("ipmp_core", "ocf", "agents")


def _install_requires() -> set[str]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    lines = [ln.strip() for ln in cfg["options"]["install_requires"].splitlines()]
    return {re.split(r"[<>=!~ ;\[]", ln, maxsplit=1)[0].lower() for ln in lines if ln}


def _imported_packages() -> dict[str, str]:
    """Top-level package -> one file importing it, over every product module."""
    found: dict[str, str] = {}
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def test_every_third_party_import_is_a_runtime_requirement_and_nothing_more() -> None:
    imported = _imported_packages()
    third_party = {name.lower(): where for name, where in imported.items()
                   if name not in sys.stdlib_module_names and name not in PRODUCT}
    required = _install_requires()
    assert set(third_party) <= required, \
        {n: w for n, w in third_party.items() if n not in required}
    unused = required - set(third_party)
    assert not unused, f"required but never imported: {unused}"
