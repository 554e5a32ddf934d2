"""Per-node values: one parameter value for every node of a cloned resource.

Standard library only: this is on the monitor path, which Pacemaker runs every few
seconds on every node.
"""

from __future__ import annotations

import os
import socket

# A per-node value: entries separated by ";", each "@NODE value" for one node, one entry
# without "@" for every other node. Sun Cluster wrote ipmp0@node1; a cloned resource has
# one set of parameters for all nodes, so the nodes' differences go into the values.
_NODE_ENTRY = r"^@([A-Za-z0-9][A-Za-z0-9_.-]*)(?:\s+(.*))?$"
PER_NODE_HELP = (
    'The same on every node, or per node: "@node1 VALUE; @node2 VALUE" (an entry without '
    '@node applies to the nodes not named).'
)


def node_entries(value: str) -> tuple[str | None, dict[str, str]]:
    """(default, {node: value}) of a per-node value; raises ValueError when malformed."""
    if "@" not in value:
        return value.strip(), {}
    import re  # not on the monitor path

    entry = re.compile(_NODE_ENTRY, re.S)
    default: str | None = None
    nodes: dict[str, str] = {}
    for part in (p.strip() for p in value.split(";")):
        if not part:
            continue
        match = entry.match(part)
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


def covers(value: str | None, node: str) -> bool:
    """Whether a per-node value has an entry for ``node``: its own, or one without @node."""
    if not value or not value.strip():
        return False
    default, nodes = node_entries(value)
    return node in nodes or bool(default)


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
