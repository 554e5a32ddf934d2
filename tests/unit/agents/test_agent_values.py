"""The agents judge values with the daemon's rules (ipmp_core/values.py): validate-all
refuses what the engine would refuse, with OCF_ERR_CONFIGURED and the same reason."""

from __future__ import annotations

import io

import pytest

from agents import ipmp, ipmp_address
from ocf import OCFCode

GROUP = {"group": "ipmp0", "interfaces": "e0 e1"}


def validate(agent, **params: str):  # noqa: ANN001, ANN201
    environ = {"OCF_ROOT": "/usr/lib/ocf", "OCF_RESOURCE_INSTANCE": "r1",
               **{f"OCF_RESKEY_{k}": v for k, v in params.items()}}
    return agent.run_action("validate-all", environ, log_stream=io.StringIO())


BAD_GROUP = [
    ({"failure_detection_time": "0"}, "failure detection time"),
    ({"failure_detection_time": "99"}, "failure detection time"),
    ({"failure_detection_time": "3600001"}, "failure detection time"),
    ({"targets": "224.0.0.1"}, "multicast"),
    ({"targets": "0.0.0.0"}, "unspecified"),
    ({"targets": "255.255.255.255"}, "limited broadcast"),
    ({"targets": "198.51.100.1 198.51.100.1"}, "twice"),
    ({"targets": " ".join(f"198.51.100.{i}" for i in range(1, 7))}, "at most 5"),
    ({"data_addresses": "198.51.100.10/0"}, "prefix /0"),
    ({"data_addresses": "fe80::10/64"}, "link-local"),
    ({"data_addresses": "255.255.255.255/32"}, "limited broadcast"),
    ({"test_addresses": "e0=2001:db8::21/64"}, "must be link-local"),
    ({"gateway": "224.0.0.1"}, "multicast"),
    ({"test_addresses": "e0=198.51.100.21/24", "gateway": "203.0.113.1"}, "not on-link"),
    ({"data_addresses": "198.51.100.10/24", "targets": "198.51.100.10"}, "own addresses"),
]


@pytest.mark.parametrize(("params", "words"), BAD_GROUP,
                         ids=[" ".join(f"{k}={v}" for k, v in p.items())[:50]
                              for p, _ in BAD_GROUP])
def test_ipmp_validate_refuses_with_the_daemons_rules(params, words):
    result = validate(ipmp.agent, **GROUP, **params)
    assert result.code is OCFCode.ERR_CONFIGURED, result
    assert words in (result.reason or ""), result.reason


@pytest.mark.parametrize(("ip", "prefix", "words"), [
    ("198.51.100.50", "1", "prefix /1"),
    ("255.255.255.255", "32", "limited broadcast"),
    ("240.0.0.1", "24", "reserved"),
])
def test_ipmp_address_validate_refuses_with_the_daemons_rules(ip, prefix, words):
    result = validate(ipmp_address.agent, ip=ip, group="ipmp0", cidr_netmask=prefix)
    assert result.code is OCFCode.ERR_CONFIGURED, result
    assert words in (result.reason or ""), result.reason


def test_good_values_pass():
    result = validate(ipmp.agent, **GROUP, failure_detection_time="1000",
                      test_addresses="e0=198.51.100.21/24 e1=198.51.100.22/24",
                      gateway="198.51.100.1", targets="198.51.100.1 198.51.100.2")
    assert result.code is OCFCode.SUCCESS, result.reason
    result = validate(ipmp_address.agent, ip="198.51.100.50", group="ipmp0")
    assert result.code is OCFCode.SUCCESS, result.reason
