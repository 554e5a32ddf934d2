"""The Prometheus textfile as Prometheus sees it: Debian's prometheus-node-exporter
(textfile collector only, started by hand, listening on loopback inside the node's
namespace, killed by PID at teardown) is scraped over loopback before and after a cable
pull, and its values follow the failover."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ipmp_core.constants import DEFAULT_METRICS_DIR
from tests.support.node import Node
from tests.support.prometheus import STALE_FILE_RE, parse, value

pytestmark = pytest.mark.netns

EXPORTER = "prometheus-node-exporter"
# Inside the node's own namespace: no other exporter can hold the port.
LISTEN = "127.0.0.1:9100"
V4 = "198.51.100.10"
TEST_E0 = "198.51.100.21"
PROBE_FDT_MS = 1000  # a probe every 143 ms: the counters grow within a second
# A scrape shows a change after the daemon's next write (at most one FDT after the
# change: PROBE_FDT_MS here) plus the exporter's read; generous for a loaded machine.
FOLLOW_S = 10.0
def scrape(node: Node) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    res = node.run_py("import urllib.request, sys\n"
                      f"r = urllib.request.urlopen('http://{LISTEN}/metrics', timeout=5)\n"
                      "sys.stdout.write(r.read().decode())")
    return parse(res.stdout) if res.returncode == 0 else {}


def test_node_exporter_scrape_follows_a_cable_pull(node: Node) -> None:
    exporter = shutil.which(EXPORTER)
    assert exporter, f"{EXPORTER} not installed (scripts/install-deps.sh installs it)"
    assert Path(node.env["IPMP_METRICS_DIR"]) != Path(DEFAULT_METRICS_DIR)  # not this host's
    lab = node.lab
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    # The file is written at most once per FDT: 1 s, so that the test is short.
    node.adm("set-ipmp", "-p", f"fdt={PROBE_FDT_MS}", "ipmp0")
    node.adm("create-addr", "-a", f"{V4}/24", "ipmp0")
    lab.spawn(node.ns, [exporter, "--collector.disable-defaults", "--collector.textfile",
                        f"--collector.textfile.directory={node.state_dir}",
                        f"--web.listen-address={LISTEN}"], stderr=subprocess.DEVNULL)
    ns = node.ns

    def shows(name: str, expected: float, **labels: str) -> bool:
        return value(scrape(node), f"clearview_ipmp_{name}", netns=ns, **labels) == expected

    node.wait_for(lambda: shows("group_state", 1, group="ipmp0", state="ok"),
                  "the scrape to show ipmp0 ok", timeout=FOLLOW_S)
    before = scrape(node)
    assert value(before, "node_textfile_scrape_error") == 0
    # What the staleness alert of docs/operations.md reads: the file's mtime, by name.
    mtimes = {dict(labels).get("file", ""): v for (name, labels), v in before.items()
              if name == "node_textfile_mtime_seconds"}
    assert [f for f in mtimes if re.fullmatch(STALE_FILE_RE, f)], mtimes
    assert value(before, "clearview_ipmp_group_usable_members", group="ipmp0") == 2
    assert value(before, "clearview_ipmp_interface_state", interface="e0", state="ok") == 1
    assert value(before, "clearview_ipmp_address_moves_total", group="ipmp0") == 0
    assert value(before, "clearview_ipmp_group_data_addresses", group="ipmp0") == 1

    lab.pull_cable("e0")
    node.wait_for(lambda: shows("group_state", 1, group="ipmp0", state="degraded"),
                  "the scrape to show ipmp0 degraded", timeout=FOLLOW_S)
    after = scrape(node)
    assert value(after, "clearview_ipmp_group_state", group="ipmp0", state="ok") == 0
    assert value(after, "clearview_ipmp_group_usable_members", group="ipmp0") == 1
    assert value(after, "clearview_ipmp_interface_state", interface="e0", state="failed") == 1
    assert value(after, "clearview_ipmp_interface_link_up", interface="e0") == 0
    assert value(after, "clearview_ipmp_interface_active", interface="e1") == 1
    assert value(after, "clearview_ipmp_address_moves_total", group="ipmp0") == 1
    # The move's gratuitous ARP went out of e1 (the first of the burst at once).
    sent = value(after, "clearview_ipmp_announcements_sent_total", interface="e1")
    assert sent is not None and sent >= 1

    lab.plug_cable("e0")
    node.wait_for(lambda: shows("interface_link_up", 1, interface="e0"),
                  "the scrape to show e0's link up again", timeout=FOLLOW_S)


def test_probe_counters_per_target(node: Node) -> None:
    """With a test address, probes to the router are counted per member and target, and
    their RTT is there; a daemon that stops takes its file away."""
    lab = node.lab
    router = lab.router_addr4
    assert router is not None
    node.adm("create-ipmp", "-i", "e0", "-i", "e1", "ipmp0")
    node.adm("set-ipmp", "-p", f"fdt={PROBE_FDT_MS}", "ipmp0")
    node.adm("create-addr", "-T", "test", "-a", f"{TEST_E0}/24", "e0")
    node.adm("create-route", "-g", router, "ipmp0")  # the router becomes the target
    prom = node.state_dir / f"clearview-ipmp-{node.ns}.prom"

    def acked() -> float | None:
        text = prom.read_text() if prom.exists() else ""
        return value(parse(text), "clearview_ipmp_probes_acked_total", interface="e0",
                     target=router)

    node.wait_for(lambda: (acked() or 0) >= 2, "answered probes from e0 in the file",
                  timeout=FOLLOW_S)
    samples = parse(prom.read_text())
    rtt = value(samples, "clearview_ipmp_probe_rtt_seconds", interface="e0",
                target=router)
    assert rtt is not None and 0 < rtt < 1
    assert value(samples, "clearview_ipmp_group_failure_detection_time_seconds",
                 group="ipmp0") == PROBE_FDT_MS / 1000
    node.shutdown()
    node.wait_for(lambda: not prom.exists(), "the textfile to go with the daemon")
