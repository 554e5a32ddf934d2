"""The control requests of ipadm address objects: a name an administrator gives follows
libipadm's rule (a generated name, "_a", is the daemon's to give), and the list of
address objects is a read-only request anyone may make."""

from __future__ import annotations

import pytest

from ipmp_core.errors import EngineError
from tests.unit.daemon.test_fuzz_control import world


def test_add_address_takes_a_name_and_address_objects_lists_it() -> None:
    w, ops = world()
    ops["add-address"].handler({"group": "ipmp0", "address": "192.0.2.10/24",
                                "name": "v4"}, w.now)
    ops["add-test-address"].handler({"interface": "e1", "address": "198.51.100.22/24",
                                     "name": "test"}, w.now)
    entry = ops["address-objects"]
    assert entry.read_only and not entry.privileged
    rows, _ = entry.handler({}, w.now)
    assert {r["addrobj"] for r in rows} >= {"ipmp0/v4", "e1/test", "ipmp0/_a", "e0/_a"}


@pytest.mark.parametrize("name", ["_b", "1x", "", "v/4", 7])
def test_a_request_may_not_give_a_generated_or_invalid_name(name: object) -> None:
    w, ops = world()
    before = w.engine.config()
    for op, args in (("add-address", {"group": "ipmp0", "address": "192.0.2.10/24"}),
                     ("add-test-address", {"interface": "e1",
                                           "address": "198.51.100.22/24"})):
        with pytest.raises(EngineError, match="invalid address object name"):
            ops[op].handler({**args, "name": name}, w.now)
    assert w.engine.config() == before
