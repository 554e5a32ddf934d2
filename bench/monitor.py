"""Monitor cost: `ocf:clearview:ipmp monitor` against `ocf:heartbeat:IPaddr2 monitor`.

Pacemaker runs every monitor every few seconds on every node, so its wall time is what a
cluster pays for watching the network. Both agents run as Pacemaker runs them (the
installed executables, OCF_RESKEY_* in the environment, no terminal) inside a lab node
namespace: our group of two members with a data address, and IPaddr2 with a configured
address on a third NIC. The runs alternate (ours, IPaddr2, ours, ...) so that both see
the same machine load; the ratio of the medians is reported. Target: <= 1.0.

    python -m bench.monitor [--runs 60] [--output docs/performance.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.report import markdown_table, now_utc, ratio_line, write_section
from tests.support.lab import Lab

OCF_ROOT = "/usr/lib/ocf"  # the system's, read only (IPaddr2 and its shell functions)
IPADDR2 = f"{OCF_ROOT}/resource.d/heartbeat/IPaddr2"
SECTION = "monitor"  # of docs/performance.md
# Ours may cost at most what the stock IPaddr2 monitor costs.
TARGET_RATIO = 1.0

# Runs inside the node namespace: times each monitor from fork to exit.
DRIVER = r"""
import json, os, subprocess, sys, time
ours_env, theirs_env, runs = json.loads(sys.argv[1])
base = {"PATH": os.environ["PATH"], "OCF_ROOT": "/usr/lib/ocf",
        "IPMP_STATE_DIR": os.environ["IPMP_STATE_DIR"]}
def run(agent, env):
    t0 = time.perf_counter()
    res = subprocess.run([agent, "monitor"], env={**base, **env}, capture_output=True)
    return time.perf_counter() - t0, res.returncode
times = {"ours": [], "ipaddr2": []}
codes = {"ours": set(), "ipaddr2": set()}
for i in range(runs):
    for name, agent, env in (("ours", sys.argv[2], ours_env), ("ipaddr2", sys.argv[3],
                                                               theirs_env)):
        dt, rc = run(agent, env)
        times[name].append(dt * 1000)
        codes[name].add(rc)
print(json.dumps({"times": times, "codes": {k: sorted(v) for k, v in codes.items()}}))
"""


def agent_env(params: dict[str, str], instance: str) -> dict[str, str]:
    env = {f"OCF_RESKEY_{k}": v for k, v in params.items()}
    env.update(OCF_RESOURCE_INSTANCE=instance, OCF_RESKEY_CRM_meta_interval="10000")
    return env


def run_action(lab: Lab, agent: str, action: str, env: dict[str, str],
               state: str) -> subprocess.CompletedProcess[str]:
    full = {"PATH": os.environ["PATH"], "OCF_ROOT": OCF_ROOT, "IPMP_STATE_DIR": state, **env}
    return subprocess.run(["ip", "netns", "exec", lab.node, agent, action], env=full,
                          capture_output=True, text=True, timeout=120)


def install_private(directory: str) -> str:
    """Our agents installed in a private OCF root (never over the system's); the path
    of the installed ipmp agent."""
    subprocess.run([sys.executable, "-m", "agents.cli", "install", "--ocf-root", directory],
                   check=True, capture_output=True)
    return f"{directory}/resource.d/clearview/ipmp"


def measure(runs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-monitor-ocf-") as ocf_root:
        return _measure(runs, install_private(ocf_root))


def _measure(runs: int, ours_agent: str) -> dict:
    if not Path(IPADDR2).exists():
        raise SystemExit(f"{IPADDR2} missing: install resource-agents (make test does)")
    ours = agent_env({"group": "ipmp0", "interfaces": "e0 e1",
                      "data_addresses": "198.51.100.10/24"}, "net:0")
    theirs = agent_env({"ip": "198.51.100.60", "cidr_netmask": "24", "nic": "e2"}, "vip")
    with tempfile.TemporaryDirectory(prefix="bench-monitor-") as state, \
            Lab(prefix=f"bnm{os.getpid() % 10000}", nics=3) as lab:
        # No cluster here: a stub attrd_updater that succeeds, as attrd does in a cluster
        # (the daemon, started by our agent with this PATH, runs it when the monitor asks
        # it to publish the attribute again; the monitor does not wait for it).
        stub = Path(state) / "bin" / "attrd_updater"
        stub.parent.mkdir()
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
        os.environ["PATH"] = f"{stub.parent}:{os.environ['PATH']}"
        try:
            for agent, env in ((ours_agent, ours), (IPADDR2, theirs)):
                res = run_action(lab, agent, "start", env, state)
                if res.returncode != 0:
                    raise SystemExit(f"{agent} start failed: {res.stderr.strip()}")
            driver = subprocess.run(
                ["ip", "netns", "exec", lab.node, sys.executable, "-c", DRIVER,
                 json.dumps([ours, theirs, runs]), ours_agent, IPADDR2],
                env={**os.environ, "IPMP_STATE_DIR": state}, capture_output=True, text=True,
                timeout=600)
            if driver.returncode != 0:
                raise SystemExit(f"driver failed: {driver.stderr.strip()}")
            result = json.loads(driver.stdout)
        finally:
            run_action(lab, IPADDR2, "stop", theirs, state)
            run_action(lab, ours_agent, "stop", ours, state)
    return result


def summary(result: dict) -> dict[str, dict[str, float]]:
    out = {}
    for name, times in result["times"].items():
        ordered = sorted(times)
        out[name] = {"median": statistics.median(ordered),
                     "p90": ordered[int(0.9 * (len(ordered) - 1))],
                     "min": ordered[0]}
    return out


def report(result: dict, runs: int) -> str:
    s = summary(result)
    rows = [["agent", "median ms", "p90 ms", "min ms"],
            *([name, f"{v['median']:.1f}", f"{v['p90']:.1f}", f"{v['min']:.1f}"]
              for name, v in (("ocf:clearview:ipmp", s["ours"]),
                              ("ocf:heartbeat:IPaddr2", s["ipaddr2"])))]
    lines = [
        "## Monitor cost",
        "",
        "What is measured: the wall time of one `monitor` action, from fork to exit, as "
        "Pacemaker runs it (the installed agent, OCF_RESKEY_* in the environment). Ours: "
        "`ocf:clearview:ipmp` on a started group of two members with a data address (it "
        "asks the daemon for a snapshot and to publish the node attribute again, which the "
        "daemon does with attrd_updater off the monitor's path, here a stub that succeeds "
        "as attrd does in a cluster). Baseline, in the same run: "
        "`ocf:heartbeat:IPaddr2` (resource-agents, Debian) on a configured address. Runs "
        "alternate so that both see the same load.",
        "",
        f"Command: `make bench` (or `python -m bench.monitor --runs {runs}`); "
        f"{now_utc()}; kernel "
        f"{platform.release()}; {runs} runs each; exit codes: ours "
        f"{result['codes']['ours']}, IPaddr2 {result['codes']['ipaddr2']}.",
        "",
        *markdown_table(rows),
        "",
        ratio_line("Ratio of medians (ours / IPaddr2)", s["ours"]["median"],
                   s["ipaddr2"]["median"], TARGET_RATIO),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--output", default="docs/performance.md")
    args = parser.parse_args()
    result = measure(max(5, min(args.runs, 1000)))
    section = report(result, args.runs)
    print(section)
    if args.output:
        write_section(Path(args.output), SECTION, section)
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
