"""The values of docs/pacemaker.md's recipe that the cluster tests build on: one group
cloned on every node, per-node test addresses, one floating address."""

from __future__ import annotations

GROUP = "ipmp0"
ATTR = f"ipmp-{GROUP}"  # the node attribute ipmpd publishes for the group
VIP = "198.51.100.50"
NICS = ("e0", "e1")
TEST_ADDRESSES = (
    "@n1 e0=198.51.100.21/24 e1=198.51.100.22/24; @n2 e0=198.51.100.23/24 e1=198.51.100.24/24"
)
