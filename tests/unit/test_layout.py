"""The test tree's own rule: pytest imports test modules by basename (rootdir-relative
packages are not used), so two test files with one name in different folders stop the
whole run at collection ("import file mismatch")."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent


def test_test_module_basenames_are_unique_across_test_folders() -> None:
    # conftest.py and a package's __init__.py are imported by their folder, not basename.
    names = Counter(p.name for p in TESTS.rglob("*.py")
                    if p.name not in ("conftest.py", "__init__.py"))
    assert not [n for n, c in names.items() if c > 1], names.most_common(3)
