"""A throw-away copy of this machine's /usr, /etc, /var and /opt for installing a package.

A private mount namespace (held open by one sleeping process, killed by its PID at the
end) mounts an overlay on each of those directories, with the writable layer on a tmpfs
of its own: `dpkg -i` and `dpkg --purge` run for real, with dpkg's own database, but
nothing they write reaches the machine. The test suite's /opt/clearview-ipmp/venv and
the agents that `make install` put in /usr/lib/ocf stay as they were, whatever the test
does or however it fails; other engineers' apt and dpkg do not share our dpkg lock.
Mounts of the machine made later (`ip netns add` of a lab) are seen inside (slave
propagation); ours never leak out.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

# The directories a package installs into (/lib, /bin, /sbin are links into /usr here).
OVERLAID = ("usr", "etc", "var", "opt")
# How long the namespace may live at most: a crashed test run does not leave it for ever.
LIFETIME_S = 1800
# Entering the namespace takes milliseconds; bounded all the same.
SETUP_TIMEOUT_S = 30.0
POLL_S = 0.01


class OverlayRoot:
    """Use as a context manager; ``run`` runs a command inside."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="cv-overlay-", dir="/tmp"))
        self.holder: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> OverlayRoot:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        mine = os.stat("/proc/self/ns/mnt").st_ino
        self.holder = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "slave", "sleep", str(LIFETIME_S)],
            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + SETUP_TIMEOUT_S
        while os.stat(f"/proc/{self.holder.pid}/ns/mnt").st_ino == mine:
            if time.monotonic() > deadline or self.holder.poll() is not None:
                raise RuntimeError("unshare --mount did not give a new mount namespace")
            time.sleep(POLL_S)
        layers = " ".join(OVERLAID)
        script = (
            f"set -e; mount -t tmpfs -o mode=0755 cv-overlay {self.base}; "
            f"for d in {layers}; do mkdir -p {self.base}/upper/$d {self.base}/work/$d; "
            f"mount -t overlay overlay -o lowerdir=/$d,upperdir={self.base}/upper/$d,"
            f"workdir={self.base}/work/$d /$d; done")
        self.run("sh", "-c", script, check=True)

    def run(self, *argv: str, check: bool = False, timeout: float = 300,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        assert self.holder is not None
        res = subprocess.run(["nsenter", "-t", str(self.holder.pid), "-m", *argv],
                             capture_output=True, text=True, timeout=timeout, env=env)
        if check and res.returncode != 0:
            raise AssertionError(f"{' '.join(argv)}: exit {res.returncode}\n{res.stdout}"
                                 f"{res.stderr}")
        return res

    def exists(self, path: str) -> bool:
        return self.run("test", "-e", path).returncode == 0 or \
            self.run("test", "-L", path).returncode == 0

    def processes(self) -> list[int]:
        """PIDs of the processes in this mount namespace besides the holder."""
        assert self.holder is not None
        ns = os.stat(f"/proc/{self.holder.pid}/ns/mnt").st_ino
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == self.holder.pid:
                continue
            try:
                if os.stat(f"/proc/{entry}/ns/mnt").st_ino == ns:
                    found.append(int(entry))
            except OSError:
                continue
        return found

    def close(self) -> None:
        """Kill what still runs inside (by PID), then the holder: the namespace and its
        tmpfs go with the last process."""
        if self.holder is not None and self.holder.poll() is None:
            for pid in self.processes():
                _kill(pid)
            self.holder.kill()
            self.holder.wait(timeout=SETUP_TIMEOUT_S)
        shutil.rmtree(self.base, ignore_errors=True)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
