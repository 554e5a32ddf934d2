"""Drive the real daemon and its commands inside a lab's node namespace: the one
node-daemon helper of the netns tests and the benchmarks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.lab import Lab

# Upper bound for waiting on anything the daemon does in reaction to the kernel; failover
# takes milliseconds, so this only matters when something is broken.
SETTLE_S = 5.0
POLL_S = 0.02


class Node:
    """The host under test: owns one ipmpd (spawned through the lab, so it is killed by
    PID at teardown; its state and log in ``state_dir``) and runs ipmpadm/ipmpstat exactly
    as an operator would.

    The daemon is pointed at a defaults file that does not exist: built-in defaults,
    whatever /etc/default/clearview-ipmp says on this machine. What goes wrong raises
    ``failure``: AssertionError for the tests, a benchmark sets its own error type.
    """

    #: The exception raised when the daemon or a command misbehaves.
    failure: type[Exception] = AssertionError
    #: Upper bound for one ipmpadm/ipmpstat call (seconds).
    tool_timeout_s = 60.0
    #: How long start() waits for the daemon to answer (seconds).
    start_timeout_s = SETTLE_S
    #: --log-file state_dir/<ns>.log (what log() reads); False: the daemon's own choice
    #: (the system log when not on a terminal), for the tests of that choice.
    log_to_file = True

    def __init__(self, lab: Lab, state_dir: Path | str, ns: str | None = None) -> None:
        self.lab = lab
        self.ns = ns or lab.node
        self.state_dir = Path(state_dir)
        # The Prometheus textfile goes next to the state, not into this machine's
        # node_exporter directory.
        self.env = {**os.environ, "IPMP_STATE_DIR": str(state_dir),
                    "IPMP_METRICS_DIR": str(state_dir), "PYTHONDONTWRITEBYTECODE": "1"}
        self.daemon: subprocess.Popen[Any] | None = None

    @property
    def log_path(self) -> Path:
        return self.state_dir / f"{self.ns}.log"

    @property
    def state_path(self) -> Path:
        return self.state_dir / f"{self.ns}.json"

    @property
    def defaults(self) -> Path:
        """The defaults file it is pointed at (absent: built-in defaults)."""
        return self.state_dir / "defaults"

    @property
    def pid(self) -> int:
        if self.daemon is None or self.daemon.poll() is not None:
            raise self.failure("ipmpd is not running")
        return self.daemon.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        return "".join(self.log().splitlines(keepends=True)[-lines:])

    # ------------------------------------------------------------------ daemon
    def spawn(self, stderr: Any = subprocess.DEVNULL) -> subprocess.Popen[Any]:
        """Start ipmpd without waiting for it (``stderr``: where a traceback that escapes
        its log would go)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log_args = ["--log-file", str(self.log_path)] if self.log_to_file else []
        self.daemon = self.lab.spawn(
            self.ns,
            [sys.executable, "-m", "ipmp_core.cli.ipmpd", *log_args,
             "--defaults", str(self.defaults)],
            env=self.env, stderr=stderr,
        )
        return self.daemon

    def start(self, stderr: Any = subprocess.DEVNULL,
              timeout: float | None = None) -> subprocess.Popen[Any]:
        """Start ipmpd and wait until it answers (``timeout``: longer for a daemon
        resuming many addresses; ``start_timeout_s`` by default)."""
        daemon = self.spawn(stderr)
        self.wait_for(lambda: daemon.poll() is not None or self.alive(),
                      what="the daemon to answer",
                      timeout=self.start_timeout_s if timeout is None else timeout)
        if daemon.poll() is not None:
            raise self.failure(f"ipmpd exited with status {daemon.returncode} at start\n"
                               f"daemon log:\n{self.log()[-3000:]}")
        return daemon

    def alive(self) -> bool:
        """It answers, and its start-up is over (ping answers during it, saying
        "starting": the tests that follow expect the state loaded and applied)."""
        return self.run_py(
            "from ipmp_core.control_client import ControlClient as C, DaemonUnreachable as U\n"
            "try:\n    r = C().call('ping')\nexcept U:\n    raise SystemExit(1)\n"
            "raise SystemExit(1 if r.get('starting') else 0)").returncode == 0

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.daemon is not None
        os.kill(self.daemon.pid, sig)
        self.daemon.wait(timeout=10)

    def shutdown(self) -> None:
        """``ipmpadm shutdown`` while it runs; the lab kills it anyway at teardown."""
        if self.daemon is not None and self.daemon.poll() is None:
            self.adm("shutdown", check=False)

    # ------------------------------------------------------------------ commands
    def exec(self, *argv: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run argv in the node namespace with the test's environment (optionally as
        another user, through setpriv)."""
        prefix = ["ip", "netns", "exec", self.ns]
        if user is not None:
            prefix += ["setpriv", f"--reuid={user}", "--regid=nogroup", "--clear-groups"]
        return subprocess.run([*prefix, *argv], env=self.env, capture_output=True, text=True,
                              timeout=self.tool_timeout_s, stdin=subprocess.DEVNULL)

    def run_py(self, code: str) -> subprocess.CompletedProcess[str]:
        return self.exec(sys.executable, "-c", code)

    def tool(self, name: str, *args: str, check: bool = True,
             user: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run command ``name`` (ipmpadm, ipmpstat) of this venv in the namespace."""
        res = self.exec(sys.executable, "-m", f"ipmp_core.cli.{name}", *args, user=user)
        if check and res.returncode != 0:
            raise self.failure(f"{name} {' '.join(args)} failed ({res.returncode}): "
                               f"{res.stderr.strip()}")
        return res

    def adm(self, *args: str, check: bool = True,
            user: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.tool("ipmpadm", *args, check=check, user=user)

    def stat(self, *args: str, user: str | None = None) -> str:
        return self.tool("ipmpstat", *args, user=user).stdout

    def snapshot(self) -> dict[str, Any]:
        res = self.run_py("import json; from ipmp_core.control_client import ControlClient as C; "
                          "print(json.dumps(C().snapshot()))")
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout)

    def inbound(self) -> dict[str, str]:
        """data address -> member it is bound to ('' when unbound), per ipmpstat -a -P."""
        out = self.stat("-n", "-a", "-P", "-o", "address,inbound")
        rows = [line.split(":", 1) if "\\:" not in line else _split_escaped(line)
                for line in out.splitlines() if line]
        return {addr.replace("\\:", ":"): member for addr, member in rows}

    def group_state(self, group: str = "ipmp0") -> str:
        for line in self.stat("-g", "-P", "-o", "group,state").splitlines():
            name, state = line.split(":")
            if name == group:
                return state
        raise AssertionError(f"no group {group}")

    def iface(self, name: str) -> dict[str, Any]:
        return next(i for i in self.snapshot()["interfaces"] if i["name"] == name)

    # ------------------------------------------------------------------ kernel views
    def holders(self, addr: str) -> list[str]:
        """Node interfaces the kernel has ``addr`` on."""
        out = self.lab.run(self.ns, "ip", "-j", "addr", "show").stdout
        return [
            link["ifname"]
            for link in json.loads(out)
            for info in link.get("addr_info", [])
            if info.get("local") == addr
        ]

    def wait_for(self, predicate: Callable[[], Any], what: str,
                 timeout: float = SETTLE_S) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise self.failure(f"timed out after {timeout} s waiting for {what}\n"
                                     f"daemon log:\n{self.log()[-3000:]}")
            time.sleep(POLL_S)


def _split_escaped(line: str) -> list[str]:
    """Split a two-field ipmpstat -P line whose first field may contain escaped colons."""
    out, cur, i = [], "", 0
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line):
            cur += line[i : i + 2]
            i += 2
            continue
        if line[i] == ":":
            out.append(cur)
            cur = ""
        else:
            cur += line[i]
        i += 1
    out.append(cur)
    return out

