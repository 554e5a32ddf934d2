"""What both agents share: per-node values, the daemon, node attributes.

Standard library only (and ocf/ipmp_core modules that are): this is on the monitor path,
which Pacemaker runs every few seconds on every node.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess

from ipmp_core.control import ControlClient, ControlError, DaemonUnreachable, ensure_daemon
from ocf import OCFCode, OCFError

# A per-node value: entries separated by ";", each "@NODE value" for one node, one entry
# without "@" for every other node. Sun Cluster wrote ipmp0@node1; a cloned resource has
# one set of parameters for all nodes, so the nodes' differences go into the values.
_NODE_ENTRY = re.compile(r"^@([A-Za-z0-9][A-Za-z0-9_.-]*)(?:\s+(.*))?$", re.S)
PER_NODE_HELP = (
    'The same on every node, or per node: "@node1 VALUE; @node2 VALUE" (an entry without '
    '@node applies to the nodes not named).'
)


def node_entries(value: str) -> tuple[str | None, dict[str, str]]:
    """(default, {node: value}) of a per-node value; raises ValueError when malformed."""
    if "@" not in value:
        return value.strip(), {}
    default: str | None = None
    nodes: dict[str, str] = {}
    for part in (p.strip() for p in value.split(";")):
        if not part:
            continue
        match = _NODE_ENTRY.match(part)
        if match is None:
            if part.startswith("@"):
                raise ValueError(f"'{part}' is not '@NODE VALUE'")
            if default is not None:
                raise ValueError("more than one entry without @node")
            default = part
            continue
        node, rest = match.group(1), (match.group(2) or "").strip()
        if node in nodes:
            raise ValueError(f"node {node} is named twice")
        nodes[node] = rest
    return default, nodes


def for_node(value: str | None, node: str) -> str:
    if not value:
        return ""
    default, nodes = node_entries(value)
    return nodes.get(node, default or "")


def all_values(value: str | None) -> list[str]:
    """Every node's value (for validating all of them, wherever we run)."""
    if not value:
        return []
    default, nodes = node_entries(value)
    return ([default] if default else []) + list(nodes.values())


def local_node(ctx) -> str:  # noqa: ANN001 (ocf Context)
    """Pacemaker's name for this node: the action's on_node meta attribute, else the host
    name (what Pacemaker uses by default)."""
    return ctx.meta("on_node") or os.environ.get("OCF_RESKEY_CRM_meta_on_node") or \
        socket.gethostname().split(".")[0]


def owner_of(ctx) -> str:  # noqa: ANN001
    """The resource's name without the clone instance number: net:0 -> net."""
    instance = ctx.instance or "manual"
    return instance.split(":")[0]


def client() -> ControlClient:
    return ControlClient()


def call(op: str, **args: object) -> object:
    """A daemon request whose refusal is a failed action with the daemon's reason."""
    try:
        return client().call(op, **args)
    except DaemonUnreachable as exc:
        raise OCFError(OCFCode.ERR_GENERIC, exc.message) from None
    except ControlError as exc:
        raise OCFError(OCFCode.ERR_GENERIC, f"{op}: {exc.message}") from None


def start_daemon() -> None:
    try:
        ensure_daemon()
    except DaemonUnreachable as exc:
        raise OCFError(OCFCode.ERR_GENERIC, f"cannot start the IPMP daemon: {exc.message}") \
            from None


def snapshot_or_none() -> dict | None:
    """The daemon's snapshot, or None when no daemon runs here (nothing configured)."""
    try:
        return client().snapshot()
    except DaemonUnreachable:
        return None


def find_group(snapshot: dict | None, name: str) -> dict | None:
    if snapshot is None:
        return None
    return next((g for g in snapshot["groups"] if g["name"] == name), None)


def set_attribute(name: str, value: int, dampen: str, log) -> None:  # noqa: ANN001
    """Publish a node attribute like ocf:pacemaker:ping does (attrd_updater, dampened)."""
    argv = ["attrd_updater", "-n", name, "-B", str(value), "-d", dampen]
    _attrd(argv, log)


def delete_attribute(name: str, log) -> None:  # noqa: ANN001
    _attrd(["attrd_updater", "-n", name, "-D"], log)


def _attrd(argv: list[str], log) -> None:  # noqa: ANN001
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except FileNotFoundError:
        log.debug("attrd_updater not found: node attribute not published (outside a cluster?)")
        return
    except subprocess.TimeoutExpired:
        log.warning(f"{' '.join(argv)} timed out")
        return
    if res.returncode != 0:
        # Outside a cluster (ipmp-ocf) there is no attribute daemon: not an error.
        log.debug(f"{' '.join(argv)}: {res.stderr.strip() or res.returncode}")


def parse_dampen(text: str) -> str:
    """Pacemaker durations: 5, 5s, 500ms, 1m; returned as attrd_updater accepts it."""
    match = re.fullmatch(r"\s*(\d+)\s*(ms|s|m|min)?\s*", text or "")
    if match is None:
        raise ValueError(f"'{text}' is not a duration (e.g. 5s, 500ms)")
    number, unit = match.groups()
    return f"{number}{unit or 's'}"


def interface_exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")
