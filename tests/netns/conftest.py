"""Fixtures for tests that run against the real kernel in throw-away network namespaces.

These tests need root, ``ip`` and ``nft``. Without them they fail rather than skip: a
skipped kernel test is indistinguishable from a passing one in a CI summary, and this
project's claims are about what the kernel does.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.lab import Lab
from tests.support.netns import list_namespaces
from tests.support.node import Node

# Unique per pytest process (xdist workers and concurrent runs differ by PID), short enough
# to keep namespace names readable: "cvt12345x7-node".
_BASE = f"cvt{os.getpid() % 100_000}x"
_serial = itertools.count()


def _new_prefix() -> str:
    return f"{_BASE}{next(_serial)}"


def _ours() -> list[str]:
    return [ns for ns in list_namespaces() if ns.startswith(_BASE)]


@pytest.fixture(scope="session", autouse=True)
def netns_preconditions() -> Iterator[None]:
    """Fail (not skip) the session's netns tests when they cannot run here; check after
    the session that every namespace they created is gone again."""
    problems = []
    if os.geteuid() != 0:
        problems.append("not running as root")
    problems += [f"{tool!r} not found in PATH" for tool in ("ip", "nft") if not shutil.which(tool)]
    if problems:
        pytest.fail("netns tests need root, ip and nft: " + "; ".join(problems), pytrace=False)
    yield
    left = _ours()
    if left:
        pytest.fail(f"namespaces left behind: {left}", pytrace=False)


@pytest.fixture
def lab() -> Iterator[Lab]:
    """A fresh default lab (node with e0..e2, switch, router, client), torn down after."""
    with Lab(prefix=_new_prefix(), nics=3) as the_lab:
        yield the_lab


@pytest.fixture
def new_prefix() -> Callable[[], str]:
    """Returns a function giving lab prefixes no other lab of any concurrent run uses."""
    return _new_prefix


@pytest.fixture
def make_lab() -> Iterator[Callable[..., Lab]]:
    """Factory for labs with other options: ``make_lab(nics=2, with_client=False)``.

    Every lab it made is torn down after the test, started or not."""
    labs: list[Lab] = []

    def factory(**kwargs: Any) -> Lab:
        the_lab = Lab(prefix=_new_prefix(), **kwargs)
        labs.append(the_lab)
        the_lab.start()
        return the_lab

    yield factory
    for the_lab in labs:
        the_lab.close()


@pytest.fixture
def node(lab: Lab, tmp_path: Path) -> Iterator[Node]:
    """A lab whose node namespace runs a fresh ipmpd with its own state directory."""
    the_node = Node(lab, tmp_path / "state")
    the_node.start()
    yield the_node
    if the_node.daemon is not None and the_node.daemon.poll() is None:
        lab.stop(the_node.daemon)
