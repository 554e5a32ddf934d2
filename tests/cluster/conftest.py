"""Fixtures for the cluster tests: real Pacemaker + corosync nodes in network namespaces.

Like the netns tests these fail rather than skip when they cannot run: a skipped cluster
test looks like a passing one in a CI summary. ``make test`` installs the packages
(scripts/install-cluster-deps.sh).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster.base import PREFIX_BASE, SYSTEM_RESOURCE_D, ClusterError, tree_snapshot
from tests.support.cluster.cluster import Cluster
from tests.support.netns import list_namespaces

AGENTS = ("ipmp", "ipmp-address")
TOOLS = (
    "pacemakerd", "corosync", "corosync-cfgtool", "pcs", "crm_resource", "crm_mon",
    "cibadmin", "attrd_updater", "ocf-tester", "nsenter", "unshare", "ip",
)


@pytest.fixture(scope="session", autouse=True)
def cluster_preconditions() -> Iterator[None]:
    """Fail (never skip) when this machine cannot run the cluster tests; after the session
    check that no namespace of ours is left."""
    problems = []
    if os.geteuid() != 0:
        problems.append("not running as root")
    problems += [f"{t!r} not found in PATH" for t in TOOLS if not shutil.which(t)]
    if problems:
        pytest.fail(
            "cluster tests need root, Pacemaker, corosync, pcs and resource-agents "
            "(scripts/install-cluster-deps.sh): " + "; ".join(problems),
            pytrace=False,
        )
    yield
    left = [ns for ns in list_namespaces() if ns.startswith(PREFIX_BASE)]
    if left:
        pytest.fail(f"namespaces left behind: {left}", pytrace=False)


def install_private_agents(ocf_root: Path) -> Path:
    """``python -m agents.cli install --ocf-root OCF_ROOT``; returns OCF_ROOT/resource.d.
    The directories are world-traversable: meta-data runs as hacluster / nobody."""
    argv = [sys.executable, "-m", "agents.cli", "install", "--ocf-root", str(ocf_root)]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if res.returncode != 0:
        pytest.fail(
            f"installing the OCF agents failed: {' '.join(argv)} -> rc {res.returncode}\n"
            f"{res.stdout}{res.stderr}",
            pytrace=False,
        )
    resource_d = ocf_root / "resource.d"
    for d in (ocf_root, resource_d, resource_d / "clearview"):
        d.chmod(0o755)
    missing = [a for a in AGENTS if not os.access(resource_d / "clearview" / a, os.X_OK)]
    if missing:
        pytest.fail(f"{' '.join(argv)} did not install {missing}", pytrace=False)
    return resource_d


@pytest.fixture(scope="session")
def system_ocf_before() -> dict[str, str]:
    """The system's resource.d as it was when the session began (before any install)."""
    return tree_snapshot(SYSTEM_RESOURCE_D)


@pytest.fixture(scope="session")
def agents_installed(system_ocf_before: dict[str, str]) -> Iterator[Path]:
    """This session's agents in a private OCF root (never /usr/lib/ocf); returns its
    provider directory (.../resource.d/clearview). The cluster nodes see the private
    resource.d in place of the system's (Cluster(ocf_resource_d=...))."""
    ocf_root = Path(tempfile.mkdtemp(prefix="cv-ocf-", dir="/tmp"))
    try:
        yield install_private_agents(ocf_root) / "clearview"
    finally:
        # The nodes' bind mounts died with their mount namespaces: plain files remain.
        shutil.rmtree(ocf_root, ignore_errors=True)


def _cluster(nodes: int, request: pytest.FixtureRequest, agents: Path,
             data_nics: int = 2) -> Iterator[Cluster]:
    cluster = Cluster(nodes=nodes, ocf_resource_d=agents.parent, data_nics=data_nics)
    try:
        cluster.start()
    except ClusterError as exc:
        pytest.fail(f"{nodes}-node cluster did not come up: {exc}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.close()
        timings = ", ".join(f"{k} {v:.1f} s" for k, v in cluster.timings.items())
        if hasattr(request.node, "user_properties"):  # a test, not a module
            request.node.user_properties.append(("cluster_timings", cluster.timings))
        print(f"\n[{nodes}-node cluster {cluster.prefix}: {timings}]")
        if cluster.keep_workdir:
            print(f"[logs and CIBs kept in {cluster.workdir}]")
        if cluster.leftovers:
            print("[teardown had to clean up: " + "; ".join(cluster.leftovers) + "]")
        left = [ns for ns in list_namespaces() if ns.startswith(cluster.prefix + "-")]
        assert not left, f"namespaces left behind: {left}"


@pytest.fixture
def single(request: pytest.FixtureRequest, agents_installed: Path) -> Iterator[Cluster]:
    """A one-node cluster (n1) with data NICs e0, e1 on a switch, a client and a router;
    the node sees this session's agents as ocf:clearview."""
    yield from _cluster(1, request, agents_installed)


@pytest.fixture
def pair(request: pytest.FixtureRequest, agents_installed: Path) -> Iterator[Cluster]:
    """A two-node cluster (n1, n2), each with data NICs e0, e1 on one switch, a client
    and a router; the nodes see this session's agents as ocf:clearview."""
    yield from _cluster(2, request, agents_installed)


@pytest.fixture(scope="module")
def module_pair(request: pytest.FixtureRequest, agents_installed: Path) -> Iterator[Cluster]:
    """One two-node cluster for a whole test module (each node with data NICs e0, e1, e2):
    several checks in sequence on one cluster, which saves a cluster start per check."""
    yield from _cluster(2, request, agents_installed, data_nics=3)
