"""ocf:clearview:ipmp's parameter rules that decide an exit code before the daemon is
asked anything: which node a per-node value covers, and static test addresses on a
clone. The codes follow what Pacemaker does with them (docs/pacemaker.md; OCF_ERR_CONFIGURED
stops the resource on every node, OCF_ERR_INSTALLED bans only the node that returned it).
"""

from __future__ import annotations

import io

import pytest

from agents.ipmp import agent
from ocf import OCFCode

TESTS_N1 = "e0=198.51.100.21/24 e1=198.51.100.22/24"
TESTS_N2 = "e0=198.51.100.23/24 e1=198.51.100.24/24"
# Pacemaker keeps this many characters of an exit reason (seen on 2.1.5).
EXIT_REASON_MAX = 128
CLONE = {"OCF_RESKEY_CRM_meta_clone": "0", "OCF_RESKEY_CRM_meta_clone_max": "2"}


def run(action: str, *, node: str = "n2", **params: str) -> tuple[int, str, str]:
    """(code, exit reason, log) of ``action`` run in-process on ``node``; extra
    environment (meta attributes, OCF_CHECK_LEVEL) is passed as ``ENV__NAME=value``."""
    env = {"OCF_ROOT": "/usr/lib/ocf", "OCF_RESOURCE_INSTANCE": "net:1",
           "OCF_RESKEY_CRM_meta_on_node": node, "HA_RSCTMP": "/nonexistent"}
    for key, value in params.items():
        if key.startswith("ENV__"):
            env[key[5:]] = value
        else:
            env[f"OCF_RESKEY_{key}"] = value
    log = io.StringIO()
    result = agent.run_action(action, env, log_stream=log)
    return int(result.code), result.reason or "", log.getvalue()


# --------------------------------------------------------------------------- issue 9, 4
def test_start_on_a_node_no_entry_covers_is_installed_not_configured() -> None:
    code, reason, _ = run("start", group="ipmp0", interfaces="@n1 e0 e1")
    assert code == OCFCode.ERR_INSTALLED  # bans n2 only; 6 would stop n1's group too
    assert "node n2" in reason and "interfaces" in reason and "only n1" in reason, reason
    assert len(reason) <= EXIT_REASON_MAX, reason


def test_reload_on_an_uncovered_node_is_installed_too() -> None:
    code, reason, _ = run("reload-agent", group="ipmp0", interfaces="@n1 e0 e1")
    assert code == OCFCode.ERR_INSTALLED and "node n2" in reason, reason


def test_an_empty_entry_for_the_node_is_node_local_as_well() -> None:
    code, reason, _ = run("start", group="ipmp0", interfaces="@n1 e0 e1; @n2")
    assert code == OCFCode.ERR_INSTALLED
    assert 'entry "@n2" in interfaces is empty' in reason, reason


def test_standby_interfaces_alone_cover_a_node() -> None:
    # covered by its standby entry: n2 gets past the coverage rule to the host check
    code, reason, _ = run("start", group="ipmp0", interfaces="@n1 e0 e1",
                          standby_interfaces="@n2 nosuch7")
    assert code == OCFCode.ERR_INSTALLED and "no such interface: nosuch7" in reason, reason


def test_validate_all_level_0_warns_about_uncovered_nodes_and_succeeds() -> None:
    code, reason, log = run("validate-all", group="ipmp0", interfaces="@n1 e0 e1",
                            test_addresses=f"@n1 {TESTS_N1}; @n3 e0=198.51.100.31/24")
    assert code == OCFCode.SUCCESS, reason
    assert "nodes other than n1 cannot run the group" in log, log
    assert "node n3 has no interface" in log, log


def test_validate_all_level_10_checks_this_node() -> None:
    code, reason, _ = run("validate-all", group="ipmp0", interfaces="@n1 e0 e1",
                          ENV__OCF_CHECK_LEVEL="10")
    assert code == OCFCode.ERR_INSTALLED and "node n2" in reason, reason


def test_validate_all_still_refuses_parameters_wrong_for_every_node() -> None:
    code, reason, _ = run("validate-all", group="ipmp0", interfaces="@n1; @n2")
    assert code == OCFCode.ERR_CONFIGURED and "no interface for any node" in reason
    code, reason, _ = run("validate-all", group="ipmp0", interfaces="@n1 e0; @n2 e1",
                          standby_interfaces="@n2 e1")
    assert code == OCFCode.ERR_CONFIGURED and "both active and standby" in reason


# --------------------------------------------------------------------------- issue 9, 5
@pytest.mark.parametrize("action", ["validate-all", "start", "reload-agent"])
def test_static_test_addresses_without_node_on_a_clone_are_refused(action: str) -> None:
    code, reason, log = run(action, group="ipmp0", interfaces="e0 e1",
                            test_addresses=TESTS_N1,
                            **{f"ENV__{k}": v for k, v in CLONE.items()})
    assert code == OCFCode.ERR_CONFIGURED, reason
    assert "@node1 e0=ADDR/PREFIX" in reason, reason  # says what to write instead
    assert len(reason) <= EXIT_REASON_MAX, reason
    assert "198.51.100.21/24 198.51.100.22/24" in log and "clone of 2" in log, log


def test_a_clone_instance_without_clone_max_counts_as_a_clone() -> None:
    code, _, _ = run("validate-all", group="ipmp0", interfaces="e0 e1",
                     test_addresses=TESTS_N1, ENV__OCF_RESKEY_CRM_meta_clone="1")
    assert code == OCFCode.ERR_CONFIGURED


@pytest.mark.parametrize("tests", [
    f"@n1 {TESTS_N1}; @n2 {TESTS_N2}",  # the per-node form
    "e0=dhcp e1=dhcp",  # each node leases its own
    "link-local",  # each node's own link-local addresses
    f"@n1 {TESTS_N1}; e0=dhcp e1=dhcp",
])
def test_per_node_dhcp_or_link_local_test_addresses_are_fine_on_a_clone(tests: str) -> None:
    code, reason, _ = run("validate-all", group="ipmp0", interfaces="e0 e1",
                          test_addresses=tests, **{f"ENV__{k}": v for k, v in CLONE.items()})
    assert code == OCFCode.SUCCESS, reason


def test_static_test_addresses_without_node_outside_a_clone_only_warn() -> None:
    # pcs validates the primitive before it is cloned: it cannot know; a warning says it
    code, reason, log = run("validate-all", group="ipmp0", interfaces="e0 e1",
                            test_addresses=TESTS_N1)
    assert code == OCFCode.SUCCESS, reason
    assert "a clone needs the per-node form" in log, log
    code, reason, _ = run("validate-all", group="ipmp0", interfaces="e0 e1",
                          test_addresses=TESTS_N1, ENV__OCF_RESKEY_CRM_meta_clone_max="1")
    assert code == OCFCode.SUCCESS, reason


@pytest.mark.parametrize("action", ["validate-all", "start"])
def test_two_nodes_may_not_share_a_static_test_address(action: str) -> None:
    code, reason, _ = run(action, group="ipmp0", interfaces="e0 e1",
                          test_addresses=f"@n1 {TESTS_N1}; @n2 e0=198.51.100.21/24")
    assert code == OCFCode.ERR_CONFIGURED
    assert "198.51.100.21 is given to n1 and to n2" in reason, reason
