"""ocf:clearview:ipmp on a node its per-node values do not name, on the real kernel: a
node-local condition (probe 7, start OCF_ERR_INSTALLED), never OCF_ERR_CONFIGURED, which
Pacemaker treats as fatal on every node."""

from __future__ import annotations

import pytest
from test_agents import Ocf, exit_reason, kernel_state, ocf  # noqa: F401 (fixture)

pytestmark = pytest.mark.netns

PARAMS = ["group=ipmp0", "interfaces=@n1 e0 e1",
          "test_addresses=@n1 e0=198.51.100.21/24 e1=198.51.100.22/24"]
N1 = {"OCF_RESKEY_CRM_meta_on_node": "n1"}
N2 = {"OCF_RESKEY_CRM_meta_on_node": "n2"}
CLONE = {"OCF_RESKEY_CRM_meta_clone": "1", "OCF_RESKEY_CRM_meta_clone_max": "2"}


def test_a_node_the_values_do_not_name_is_not_a_configuration_error(ocf: Ocf) -> None:  # noqa: F811
    lab = ocf.lab
    before = kernel_state(lab)
    probe = ocf("ipmp", "monitor", *PARAMS, OCF_RESKEY_CRM_meta_interval="0", **N2, **CLONE)
    assert probe.returncode == 7, probe.stderr
    res = ocf("ipmp", "start", *PARAMS, **N2, **CLONE)
    assert res.returncode == 5, res.stderr  # OCF_ERR_INSTALLED: bans n2 only
    reason = exit_reason(res)
    assert "node n2" in reason and "interfaces" in reason and "only n1" in reason, reason
    assert kernel_state(lab) == before  # nothing was configured on n2
    res = ocf("ipmp", "validate-all", *PARAMS, **N2)
    assert res.returncode == 0, res.stderr
    assert "nodes other than n1 cannot run the group" in res.stderr, res.stderr
    # the node the values name runs the group as usual
    assert ocf.code("ipmp", "start", *PARAMS, **N1, **CLONE) == 0
    assert ocf.code("ipmp", "monitor", *PARAMS, **N1, **CLONE) == 0
    assert ocf.code("ipmp", "stop", *PARAMS, **N1, **CLONE) == 0
