"""Who else manages an interface: NetworkManager or systemd-networkd (or their DHCP clients).

Both remove addresses they did not configure and re-add routes on lease renewals, which
fights the daemon (resource-agents' experience with IPaddr2). We only look at their
runtime state files, so the check is cheap and needs neither daemon running:
- NetworkManager keeps /run/NetworkManager/devices/<ifindex> for devices it manages;
- systemd-networkd keeps /run/systemd/netif/links/<ifindex> with ADMIN_STATE=... (anything
  but "unmanaged" means it manages the link).
IPMP_RUN_DIR replaces /run (tests).
"""

from __future__ import annotations

import os


def _run_dir() -> str:
    return os.environ.get("IPMP_RUN_DIR", "/run")


def managers(ifname: str) -> list[str]:
    """Names of the network managers that manage ``ifname`` (empty when none)."""
    try:
        with open(f"/sys/class/net/{ifname}/ifindex", encoding="ascii") as fh:
            ifindex = fh.read().strip()
    except OSError:
        return []
    found = []
    if os.path.exists(os.path.join(_run_dir(), "NetworkManager", "devices", ifindex)):
        found.append("NetworkManager")
    state = os.path.join(_run_dir(), "systemd", "netif", "links", ifindex)
    try:
        with open(state, encoding="utf-8") as fh:
            fields = dict(line.strip().split("=", 1) for line in fh if "=" in line)
    except OSError:
        fields = {}
    if fields and fields.get("ADMIN_STATE", "") not in ("", "unmanaged"):
        found.append("systemd-networkd")
    return found


def warning(ifname: str) -> str | None:
    """One line for the log, ipmpadm and validate-all; None when nothing interferes."""
    found = managers(ifname)
    if not found:
        return None
    return (f"{ifname} is managed by {' and '.join(found)}, which may remove the group's "
            "addresses or change its routes: exclude it from that manager")
