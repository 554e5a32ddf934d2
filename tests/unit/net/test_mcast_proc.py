"""Parsing the kernel's multicast tables (/proc/net/igmp, igmp6, mcfilter, mcfilter6, udp)
from fixture text taken from a real kernel."""

from __future__ import annotations

import socket
import struct

from ipmp_core.net import mcast


def host_hex(group: str) -> str:
    """How /proc/net/igmp prints a group: its __be32 as a host-order number."""
    return f"{struct.unpack('=I', socket.inet_aton(group))[0]:08X}"


IGMP = f"""Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter
1\tlo        :     1      V3
\t\t\t\t{host_hex("224.0.0.1")}     1 0:00000000\t\t0
4\te0        :     3      V3
\t\t\t\t{host_hex("239.1.1.1")}     2 0:00000000\t\t0
\t\t\t\t{host_hex("224.1.2.3")}     1 0:00000000\t\t0
\t\t\t\t{host_hex("224.0.0.1")}     1 0:00000000\t\t0
5\te1        :     1      V3
\t\t\t\t{host_hex("224.0.0.1")}     1 0:00000000\t\t0
"""

IGMP6 = """1    lo              ff020000000000000000000000000001     1 0000000C 0
4    e0              ff150000000000000000000000010001     1 00000004 0
4    e0              ff0200000000000000000001ff5b1e4d     1 00000004 0
4    e0              ff020000000000000000000000000001     1 0000000C 0
4    e0              ff010000000000000000000000000001     1 00000008 0
4    e0              ff020000000000000000000000000002     1 00000004 0
4    e0              ff020000000000000000000000000016     1 00000004 0
4    e0              ff050000000000000000000000000002     1 00000004 0
5    e1              ff020000000000000000000000000001     1 0000000C 0
"""

MCFILTER = """Idx Device        MCA        SRC    INC    EXC
  4       e0 0xe8010101 0xc6336401      1      0
"""

MCFILTER6 = """Idx Device                Multicast Address                   Source Address    INC    EXC
  4       e0 ff3e0000000000000000000000001234 20010db8000000000000000000000001      1      0
"""  # noqa: E501  (the kernel's own line)

UDP = """   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  123: 00000000:1388 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 43210 2 0000000000000000 0
  124: 00000000:1389 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 0 2 0000000000000000 0
"""  # noqa: E501  (the kernel's own lines)


def test_igmp_groups_per_interface_index():
    assert mcast.parse_igmp(IGMP) == {
        1: {"224.0.0.1"},
        4: {"239.1.1.1", "224.1.2.3", "224.0.0.1"},
        5: {"224.0.0.1"},
    }


def test_igmp_of_a_namespace_without_interfaces_is_empty():
    assert mcast.parse_igmp("Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter\n") \
        == {}
    assert mcast.parse_igmp("") == {}


def test_igmp6_groups_per_interface_index():
    parsed = mcast.parse_igmp6(IGMP6)
    assert parsed[4] == {"ff15::1:1", "ff02::1:ff5b:1e4d", "ff02::1", "ff01::1", "ff02::2",
                         "ff02::16", "ff05::2"}
    assert parsed[5] == {"ff02::1"}


def test_kernel_groups_are_not_movable():
    assert mcast.movable(mcast.parse_igmp(IGMP)[4]) == {"239.1.1.1", "224.1.2.3"}
    assert mcast.movable(mcast.parse_igmp6(IGMP6)[4]) == {"ff15::1:1"}


def test_the_daemons_own_groups_and_source_specific_ones_are_not_movable():
    groups = mcast.parse_igmp(IGMP)[4]
    assert mcast.movable(groups, own=["224.1.2.3"]) == {"239.1.1.1"}
    assert mcast.movable(groups, source_specific=["239.1.1.1"]) == {"224.1.2.3"}


def test_solicited_node_groups_are_the_kernels():
    assert mcast.is_kernel_group("ff02::1:ff00:1")
    assert not mcast.is_kernel_group("ff02::1:fe00:1")
    assert not mcast.is_kernel_group("ff15::1")
    assert not mcast.is_kernel_group("239.1.1.1")


def test_source_filters_name_their_groups():
    assert mcast.parse_mcfilter(MCFILTER) == {4: {"232.1.1.1"}}
    assert mcast.parse_mcfilter6(MCFILTER6) == {4: {"ff3e::1234"}}
    assert mcast.parse_mcfilter("Idx Device        MCA        SRC    INC    EXC\n") == {}


def test_socket_inodes_of_the_namespace():
    assert mcast.parse_socket_inodes(UDP) == {43210}  # inode 0: a socket being torn down


def test_garbage_lines_are_skipped():
    assert mcast.parse_igmp("header\n\t\t\t\tZZZZ 1 0\nx e0 : 1 V3\n") == {}
    assert mcast.parse_igmp6("1 lo nothex\n") == {}
    assert mcast.parse_socket_inodes("header\n 1: short\n") == set()
