"""Where the daemon keeps the desired configuration, one file per network namespace.

The daemon writes the engine's configuration for every accepted change before it
changes the kernel (atomically: temporary file, fsync, rename, fsync of the directory)
and reads it back at start, so a daemon killed with SIGKILL comes back to the same
groups. The file is read all or nothing (ipmp_core.state_schema); one that cannot be
read is kept aside under a new name, never overwritten.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from ipmp_core.constants import DEFAULT_STATE_DIR
from ipmp_core.state_json import MAX_STATE_BYTES
from ipmp_core.state_schema import parse_state

STATE_DIR_ENV = "IPMP_STATE_DIR"
# Suffix of a file kept aside, followed by the UTC time it was found invalid.
INVALID_SUFFIX = ".invalid-"
# Kept-aside names already taken get -1, -2, ...: bounded, a directory full of them
# is an operator's problem to see, not a loop to run for ever.
MAX_KEEP_ASIDE_TRIES = 100


def netns_name() -> str:
    """The name `ip netns` knows this process's network namespace by, or "default".

    Abstract sockets already separate the daemons of different namespaces; this keeps their
    state files apart too. An unnamed namespace is identified by its inode."""
    try:
        mine = os.stat("/proc/self/ns/net")
    except OSError:
        return "default"
    try:
        init = os.stat("/proc/1/ns/net")
        if (init.st_dev, init.st_ino) == (mine.st_dev, mine.st_ino):
            return "default"
    except OSError:
        pass
    for base in ("/run/netns", "/var/run/netns"):
        try:
            entries = sorted(os.listdir(base))
        except OSError:
            continue
        for name in entries:
            try:
                st = os.stat(os.path.join(base, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino):
                return name
    return f"netns-{mine.st_ino}"


def state_dir() -> Path:
    return Path(os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR)


class StateFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_this_netns(cls, directory: Path | None = None) -> StateFile:
        return cls((directory or state_dir()) / f"{netns_name()}.json")

    def load(self) -> dict[str, Any]:
        """The validated configuration, or {} when there is no file. Raises
        StateFileError (a ValueError) for content that cannot be applied as a whole, and
        OSError when the file cannot be read."""
        try:
            with open(self.path, "rb") as fh:
                raw = fh.read(MAX_STATE_BYTES + 1)
        except FileNotFoundError:
            return {}
        return parse_state(raw)

    def save(self, data: dict[str, Any]) -> None:
        """Atomic and durable: a reader (or a restart after SIGKILL or power loss) sees
        the old file or the new one, never a mix or nothing."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)

    def keep_aside(self) -> Path:
        """Give the file a second name, <name>.invalid-<UTC time>, never replacing
        another file (a hard link fails when the name is taken), and return it. The
        caller then replaces <name> with `save` (a rename): a SIGKILL in between leaves
        the bad file where it was, to be kept aside again at the next start, never a
        daemon that finds no file and accepts changes as if nothing had been lost."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        base = self.path.with_name(f"{self.path.name}{INVALID_SUFFIX}{stamp}")
        for n in range(MAX_KEEP_ASIDE_TRIES):
            target = base if n == 0 else base.with_name(f"{base.name}-{n}")
            try:
                os.link(self.path, target)
            except FileExistsError:
                continue
            _fsync_dir(self.path.parent)
            return target
        raise OSError(f"{MAX_KEEP_ASIDE_TRIES} files named {base.name}* exist already")

    def remove(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable: it lives in the directory, not in the file."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
