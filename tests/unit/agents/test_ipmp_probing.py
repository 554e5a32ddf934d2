"""ocf:clearview:ipmp's ``probing`` parameter (link, test-addresses, transitive): the
value, its agreement with test_addresses (OCF_ERR_CONFIGURED when they contradict each
other: the parameters are wrong for every node), the warnings, and what reconcile asks
the daemon (the group's transitive-probing setting, also on reload-agent)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from lxml import etree

from agents import daemon_link
from agents.ipmp import agent
from ocf import OCFCode
from ocf.metadata import to_xml

TESTS = "e0=198.51.100.21/24 e1=198.51.100.22/24"
EXIT_REASON_MAX = 128  # what Pacemaker keeps of an exit reason


def run(action: str, **params: str) -> tuple[int, str, str]:
    """(code, exit reason, log) of ``action`` run in-process on node n1."""
    env = {"OCF_ROOT": "/usr/lib/ocf", "OCF_RESOURCE_INSTANCE": "net",
           "OCF_RESKEY_CRM_meta_on_node": "n1", "HA_RSCTMP": "/nonexistent",
           **{f"OCF_RESKEY_{k}": v for k, v in params.items()}}
    log = io.StringIO()
    result = agent.run_action(action, env, log_stream=log)
    return int(result.code), result.reason or "", log.getvalue()


def test_meta_data_declares_probing_reloadable_with_its_three_values() -> None:
    xml = etree.fromstring(to_xml(agent).encode())
    param = xml.find(".//parameter[@name='probing']")
    assert param is not None and param.get("reloadable") == "1"
    text = param.findtext("longdesc")
    assert "Allowed values: link, test-addresses, transitive." in text, text


@pytest.mark.parametrize(("params", "words"), [
    ({"probing": "test-addresses"},
     "probing=test-addresses, but test_addresses has none for node n1 (set them, or use "
     "probing=transitive)"),
    ({"probing": "link", "test_addresses": TESTS}, "probing=link contradicts test_addresses"),
    ({"probing": "link", "test_addresses": "link-local"},
     "probing=link contradicts test_addresses"),
    ({"probing": "classic"}, "parameter 'probing' has invalid value 'classic': not one of "
                             "link, test-addresses, transitive"),
])
@pytest.mark.parametrize("action", ["validate-all", "start", "reload-agent"])
def test_contradictions_are_configuration_errors(params: dict[str, str], words: str,
                                                  action: str) -> None:
    params = {"group": "ipmp0", "interfaces": "e0 e1", **params}
    code, reason, _ = run(action, **params)
    assert code == OCFCode.ERR_CONFIGURED, (code, reason)
    assert words in reason, reason
    assert len(reason) <= EXIT_REASON_MAX, reason


def test_per_node_test_addresses_must_cover_every_node_for_test_addresses() -> None:
    """n1 (where this runs) has test addresses, n2 has none: validate-all, which checks
    for every node, refuses; n1's own start gets past the parameters (to the host check:
    no interface e0 here)."""
    params = {"group": "ipmp0", "probing": "test-addresses",
              "interfaces": "@n1 e0 e1; @n2 e0 e1", "test_addresses": f"@n1 {TESTS}"}
    code, reason, _ = run("validate-all", **params)
    assert (code, reason) == (OCFCode.ERR_CONFIGURED, "probing=test-addresses, but "
                              "test_addresses has none for node n2 (set them, or use "
                              "probing=transitive)")
    params["test_addresses"] += "; e0=198.51.100.31/24 e1=198.51.100.32/24"
    assert run("validate-all", **params)[:2] == (OCFCode.SUCCESS, "")
    params["interfaces"] = "e0 e1"
    params["test_addresses"] = f"@n1 {TESTS}"
    code, reason, _ = run("validate-all", **params)  # "the nodes not named"
    assert code == OCFCode.ERR_CONFIGURED and "for the nodes not named" in reason, reason
    code, reason, _ = run("start", **params)
    assert (code, reason) == (OCFCode.ERR_INSTALLED, "no such interface: e0 e1")


@pytest.mark.parametrize("params", [
    {"probing": "transitive", "data_addresses": "198.51.100.10/24"},
    {"probing": "transitive", "test_addresses": "e0=198.51.100.21/24",
     "data_addresses": "@n1 198.51.100.11/24; 198.51.100.10/24"},
    {"probing": "transitive", "data_addresses": "2001:db8::10/64"},  # link-locals probe
    {"probing": "test-addresses", "test_addresses": TESTS},
    {"probing": "test-addresses", "test_addresses": "e0=dhcp e1=dhcp"},
    {"probing": "link"},
    {},
])
def test_combinations_that_make_sense_validate(params: dict[str, str]) -> None:
    code, reason, log = run("validate-all", group="ipmp0", interfaces="e0 e1", **params)
    assert code == OCFCode.SUCCESS, reason
    assert "probing=" not in log, log  # nothing to warn about


@pytest.mark.parametrize(("params", "warning"), [
    ({"probing": "test-addresses", "test_addresses": "e0=198.51.100.21/24"},
     "probing=test-addresses: e1 without a test address detect failures by link state "
     "only (probing=transitive covers them)"),
    ({"probing": "transitive", "test_addresses": TESTS},
     "probing=transitive: every member has a test address"),
    ({"probing": "transitive"},  # a node whose group carries only a floating address
     "probing=transitive: no data_addresses for this node: until a floating address is "
     "placed here, its members detect failures by link state only"),
    ({"probing": "link", "data_addresses": "2001:db8::10/64"},
     "probing=link: IPv6 data addresses are probed from the members' link-local"),
])
def test_choices_that_add_nothing_are_warned_about(params: dict[str, str],
                                                   warning: str) -> None:
    code, reason, log = run("validate-all", group="ipmp0", interfaces="e0 e1", **params)
    assert code == OCFCode.SUCCESS, reason
    assert warning in log, log


class FakeDaemon:
    """The daemon as reconcile sees it: one group's configuration, and the requests."""

    def __init__(self, transitive: bool | None, follows: tuple[str, ...] = ()) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.group: dict[str, Any] = {
            "name": "ipmp0", "members": [{"name": m, "standby": False, "test_addresses": []}
                                         for m in ("e0", "e1")],
            "data_addresses": [], "routes": [], "targets": [], "owners": {},
            "fdt_ms": 10000, "failback": True, "follows_defaults": list(follows),
            "attribute": {"name": "ipmp-ipmp0", "multiplier": 1, "dampen_ms": 0}}
        if transitive is not None:  # None: a daemon from before the setting
            self.group["transitive_probing"] = transitive

    def call(self, op: str, **args: Any) -> Any:
        if op == "config":
            return {"groups": [self.group]}
        self.calls.append((op, args))
        return None

    def snapshot(self) -> dict[str, Any]:
        return {"groups": [{"name": "ipmp0", "state": "ok", "active": ["e0", "e1"]}],
                "interfaces": []}


@pytest.fixture
def daemon(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> FakeDaemon:
    fake = FakeDaemon(*request.param)
    monkeypatch.setattr(daemon_link, "call", fake.call)
    monkeypatch.setattr(daemon_link, "snapshot_or_none", fake.snapshot)
    return fake


@pytest.mark.parametrize(("daemon", "probing", "expected"), [
    ((False, ()), "transitive", [("set-transitive-probing",
                                  {"group": "ipmp0", "enabled": True})]),
    ((True, ()), "", [("set-transitive-probing", {"group": "ipmp0", "enabled": False})]),
    ((True, ()), "transitive", []),  # as wanted: nothing asked
    ((False, ()), "link", []),
    # following the node's defaults file (a group made before the parameter): the
    # parameter's value is set, even an equal one, so that SIGHUP cannot change it
    ((False, ("transitive_probing",)), "link",
     [("set-transitive-probing", {"group": "ipmp0", "enabled": False})]),
], indirect=["daemon"])
def test_reload_sets_the_groups_transitive_probing_in_place(
        daemon: FakeDaemon, probing: str, expected: list) -> None:
    code, reason, _ = run("reload-agent", group="ipmp0", interfaces="e0 e1",
                          probing=probing)
    assert code == OCFCode.SUCCESS, reason
    assert daemon.calls == expected
