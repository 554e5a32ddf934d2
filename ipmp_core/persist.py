"""Where the daemon keeps the desired configuration, one file per network namespace.

The daemon writes the engine's configuration after every accepted change (atomically:
write, fsync, rename) and reads it back at start, so a daemon killed with SIGKILL comes
back to the same groups.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ipmp_core.constants import DEFAULT_STATE_DIR

STATE_DIR_ENV = "IPMP_STATE_DIR"


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
        try:
            with open(self.path, encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            return {}
        if not isinstance(data, dict):
            raise ValueError(f"{self.path}: not a configuration object")
        return data

    def save(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def remove(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
