"""The parts of pyroute2's DHCP client that net/dhcp_client.py and net/dhcp_lease.py lean
on beyond its public API: private methods overridden, attributes read, config fields,
FSM states and the lease class's hooks. setup.cfg pins pyroute2 below its next minor
release; when a new one is allowed, this test says at once what moved, instead of a DHCP
session failing at run time."""

from __future__ import annotations

import configparser
import dataclasses
import inspect
import re
from importlib import metadata
from pathlib import Path

from pyroute2.dhcp import fsm, messages
from pyroute2.dhcp.client import AsyncDHCPClient, ClientConfig
from pyroute2.dhcp.leases import Lease

from ipmp_core.net import dhcp_client
from ipmp_core.net.dhcp_lease import MemoryLease

SETUP_CFG = Path(__file__).resolve().parents[3] / "setup.cfg"


def _requirement(name: str) -> str:
    cfg = configparser.ConfigParser()
    cfg.read(SETUP_CFG)
    for line in cfg["options"]["install_requires"].split("\n"):
        if line.strip().startswith(name):
            return line.strip()
    raise AssertionError(f"{name} is not in setup.cfg's install_requires")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3] if part.isdigit())


def test_the_installed_pyroute2_is_inside_the_pinned_range() -> None:
    spec = _requirement("pyroute2")  # e.g. pyroute2>=0.9.7,<0.10
    lower = spec.split(">=")[1].split(",")[0]
    upper = spec.split("<")[1]
    installed = _version(metadata.version("pyroute2"))
    assert _version(lower) <= installed < _version(upper), (spec, installed)
    assert len(_version(upper)) == 2, f"{spec}: the bound is the next minor release"


def test_overridden_private_methods_still_exist_as_coroutines() -> None:
    for name in ("_send_message", "_process_msg", "_recv_forever", "_send_forever"):
        theirs = getattr(AsyncDHCPClient, name, None)
        assert theirs is not None, f"AsyncDHCPClient.{name} is gone"
        assert inspect.iscoroutinefunction(theirs), f"AsyncDHCPClient.{name} is no coroutine"
        ours = getattr(dhcp_client.Client, name)
        assert (list(inspect.signature(theirs).parameters)
                == list(inspect.signature(ours).parameters)), name


def test_the_attributes_the_client_reads_are_set_by_pyroute2() -> None:
    # Read from the class's source, not an instance: creating one opens a packet socket.
    source = inspect.getsource(AsyncDHCPClient)
    for attr in ("config", "state", "xid", "last_state_change", "_sock", "lease_timers",
                 "_sender_task", "_receiver_task", "_state_watchdog"):
        assert re.search(rf"self\.{attr}\s*(:[^=\n]*)?=[^=]|def {attr}\(", source), \
            f"AsyncDHCPClient no longer sets {attr}"
    assert "self.xid.for_state(" in source, "the xid's for_state() is gone"


def test_config_fields_states_and_message_types_used() -> None:
    fields = {f.name for f in dataclasses.fields(ClientConfig)}
    assert {"interface", "lease_type", "hooks", "requested_parameters", "timeouts",
            "write_pidfile", "release", "hook_timeout", "client_id", "handle_signals",
            "vendor_id", "host_name"} <= fields
    assert {"OFF", "REQUESTING", "SELECTING", "REBOOTING"} <= {s.name for s in fsm.State}
    assert hasattr(messages, "SentDHCPMessage") and hasattr(messages, "ReceivedDHCPMessage")


def test_the_lease_hooks_memory_lease_overrides_still_exist() -> None:
    assert inspect.ismethod(Lease.load), "Lease.load is no longer a classmethod"
    assert list(inspect.signature(Lease.load).parameters) == \
        list(inspect.signature(MemoryLease.load).parameters)
    assert callable(getattr(Lease, "dump", None))
