"""Network namespaces and the processes in them, for the lab and the cluster harness:
run a command, list and delete namespaces, start a process in one (in a session of its
own, so it is signalled by the PID we know) and stop it, and find what still runs in a
namespace at teardown. Everything is killed by PID, never by name.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

# How long a spawned process gets between SIGTERM and SIGKILL at teardown.
TERM_GRACE_S = 5.0
# Upper bound for every single ``ip``/``nft`` command run through run_cmd by default.
CMD_TIMEOUT_S = 30.0
# How often wait_gone looks again.
_GONE_POLL_S = 0.05


class Started:
    """A context manager for a set-up with start() and close() (a lab, a cluster): built on
    entry, torn down on exit whatever happened."""

    def __enter__(self) -> Self:
        self.start()  # type: ignore[attr-defined]
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()  # type: ignore[attr-defined]


class LabCommandError(subprocess.CalledProcessError):
    """A command failed; unlike CalledProcessError, str() shows what it printed on stderr."""

    def __str__(self) -> str:
        text = super().__str__()
        err = self.stderr.strip() if isinstance(self.stderr, str) else ""
        return f"{text}: {err}" if err else text


def run_cmd(
    argv: Sequence[str],
    *,
    input: str | None = None,
    check: bool = True,
    timeout: float = CMD_TIMEOUT_S,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command with captured text output; raise LabCommandError if check and rc != 0."""
    proc = subprocess.run(
        list(argv),
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
        stdin=None if input is not None else subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        raise LabCommandError(proc.returncode, list(argv), proc.stdout, proc.stderr)
    return proc


def list_namespaces() -> list[str]:
    """Names of all named network namespaces (``ip netns list`` prints "name (id: N)")."""
    out = run_cmd(["ip", "netns", "list"]).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def delete_namespaces(names: Sequence[str]) -> None:
    """Delete namespaces in one ``ip`` call; -force keeps going past ones already gone."""
    if not names:
        return
    script = "".join(f"netns del {name}\n" for name in names)
    run_cmd(["ip", "-force", "-batch", "-"], input=script, check=False)


def spawn_in(ns: str, argv: Sequence[str], **popen: Any) -> subprocess.Popen[Any]:
    """Start ``argv`` inside namespace ``ns`` in a session of its own, so that its whole
    process group can be signalled by the PID we know (and a terminal's Ctrl-C does not
    hit it twice). ``ip netns exec`` execs the command, so the PID is the command's own.
    stdin, stdout and stderr default to /dev/null; other keywords go to Popen."""
    for stream in ("stdin", "stdout", "stderr"):
        popen.setdefault(stream, subprocess.DEVNULL)
    return subprocess.Popen(["ip", "netns", "exec", ns, *argv], start_new_session=True, **popen)


def signal_group(proc: subprocess.Popen[Any], sig: int) -> None:
    """Signal proc's process group (its PID, as it leads a new session), if unreaped.

    Only while poll() says the child is unreaped can its PID not have been reused.
    """
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass


def stop_processes(procs: Sequence[subprocess.Popen[Any]], grace: float = TERM_GRACE_S) -> None:
    """SIGTERM every process (group) of ``procs``, give them ``grace`` seconds together,
    then SIGKILL the rest. By PID only: these are processes we started (``spawn_in``)."""
    for proc in procs:
        signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            signal_group(proc, signal.SIGKILL)
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass


def netns_ident(name: str) -> tuple[int, int] | None:
    """(st_dev, st_ino) of named network namespace ``name``; None if it does not exist."""
    try:
        st = os.stat(f"/run/netns/{name}")
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def pid_netns(pid: int) -> tuple[int, int] | None:
    """(st_dev, st_ino) of the network namespace process ``pid`` is in; None if gone."""
    try:
        st = os.stat(f"/proc/{pid}/ns/net")
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def pids_in_netns(ident: tuple[int, int]) -> list[int]:
    """PIDs of all processes whose network namespace is ``ident``."""
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        if pid_netns(int(entry)) == ident:
            found.append(int(entry))
    return sorted(found)


def comm(pid: int) -> str:
    """The command name of process ``pid`` ("?" once it is gone), for a teardown report."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes (its parent will reap it).
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def kill_pid(pid: int, sig: int) -> None:
    """Signal ``pid`` (one we started or found in our own namespace); gone is fine."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """Wait until none of ``pids`` is alive; return those still alive at the deadline."""
    pending = list(pids)
    deadline = time.monotonic() + timeout
    while pending:
        pending = [p for p in pending if alive(p)]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(_GONE_POLL_S)
    return pending


