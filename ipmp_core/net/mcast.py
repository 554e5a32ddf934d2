"""Applications' multicast memberships on group members: find them, move them.

Parsers of /proc (pure, tested without a kernel) and the move by a borrowed socket
(pidfd_getfd). Nothing here raises. Why and how: docs/design.md, "Moving applications'
multicast memberships".
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import ipaddress
import logging
import os
import platform
import socket
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass

log = logging.getLogger("ipmpd")

INET = "inet"
INET6 = "inet6"

# Groups the kernel joins by itself on every interface (all-hosts, all-nodes, all-routers,
# MLDv2 reports, site-local all-routers): no process holds them and none may be moved.
KERNEL_GROUPS = frozenset({
    "224.0.0.1",
    "ff01::1",
    "ff02::1",
    "ff02::2",
    "ff02::16",
    "ff05::2",
})
# Solicited-node groups (RFC 4291 2.7.1): ff02::1:ffXX:XXXX, joined by the kernel for
# each IPv6 address.
_SOLICITED_NODE = ipaddress.IPv6Network("ff02::1:ff00:0/104")

# Upper bounds, so that a host with an unusual number of processes or sockets cannot
# make one sweep take long: far above what a cluster node runs.
MAX_PIDS = 65_536
MAX_FDS_PER_PID = 65_536
MAX_CANDIDATES = 16_384

# pidfd_getfd(2) arrived in Linux 5.6 with the same number on every architecture that
# uses the generic syscall table; alpha numbers its syscalls on its own.
_PIDFD_GETFD_NR = {"alpha": 548}
PIDFD_GETFD_NR_DEFAULT = 438

# The kernel's socket option numbers (linux/in.h, linux/in6.h); Python has most of them
# under other names, these spell out what is meant.
IP_DROP_MEMBERSHIP = socket.IP_DROP_MEMBERSHIP
IP_ADD_MEMBERSHIP = socket.IP_ADD_MEMBERSHIP
IPV6_ADD_MEMBERSHIP = socket.IPV6_JOIN_GROUP
IPV6_DROP_MEMBERSHIP = socket.IPV6_LEAVE_GROUP
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
IFNAMSIZ = 16


def is_kernel_group(group: str) -> bool:
    """A group the kernel joins by itself: never an application's."""
    if group in KERNEL_GROUPS:
        return True
    ip = ipaddress.ip_address(group)
    return ip.version == 6 and ip in _SOLICITED_NODE


# ---------------------------------------------------------------------- /proc parsers
Memberships = dict[int, set[str]]  # ifindex -> multicast groups joined on it


def parse_igmp(text: str) -> Memberships:
    """/proc/net/igmp: a device line ("Idx<TAB>Device : Count Querier") followed by one
    indented line per group ("<TAB><TAB><TAB><TAB>010101EF Users Timer Reporter"). The
    group is the __be32 printed as a host-order number, so on a little-endian machine
    239.1.1.1 reads 010101EF."""
    out: Memberships = {}
    ifindex: int | None = None
    for line in text.splitlines()[1:]:
        if not line.strip():
            continue
        if not line[0].isspace():
            fields = line.split()
            try:
                ifindex = int(fields[0])
            except (ValueError, IndexError):
                ifindex = None
                continue
            out.setdefault(ifindex, set())
            continue
        if ifindex is None:
            continue
        fields = line.split()
        try:
            value = int(fields[0], 16)
        except (ValueError, IndexError):
            continue
        out[ifindex].add(socket.inet_ntoa(struct.pack("=I", value)))
    return out


def _parse_groups(text: str, group: Callable[[str], str], *, header: bool) -> Memberships:
    """The tables whose lines start "ifindex device group ...": group() turns the third
    field into an address (ValueError for anything else; such lines are skipped)."""
    out: Memberships = {}
    for line in text.splitlines()[1 if header else 0:]:
        fields = line.split()
        if len(fields) < 3:
            continue
        try:
            ifindex = int(fields[0])
            address = group(fields[2])
        except ValueError:
            continue
        out.setdefault(ifindex, set()).add(address)
    return out


def _ipv6_hex(field: str) -> str:
    if len(field) != 32:
        raise ValueError(field)
    return str(ipaddress.IPv6Address(bytes.fromhex(field)))


def _ipv4_hex(field: str) -> str:
    return str(ipaddress.IPv4Address(int(field, 16)))


def parse_igmp6(text: str) -> Memberships:
    """/proc/net/igmp6: "ifindex device group(32 hex digits) users flags timer"."""
    return _parse_groups(text, _ipv6_hex, header=False)


def parse_mcfilter(text: str) -> Memberships:
    """/proc/net/mcfilter: "Idx Device MCA SRC INC EXC" with MCA and SRC as 0x%08x in
    network order. A group listed here has source filters (source-specific membership)."""
    return _parse_groups(text, _ipv4_hex, header=True)


def parse_mcfilter6(text: str) -> Memberships:
    """/proc/net/mcfilter6: "Idx Device Multicast-Address Source-Address INC EXC", the
    addresses as 32 hex digits."""
    return _parse_groups(text, _ipv6_hex, header=True)


def parse_socket_inodes(text: str) -> set[int]:
    """/proc/net/{udp,udp6,raw,raw6}: the inode is the 10th column of each entry."""
    out: set[int] = set()
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        with contextlib.suppress(ValueError):
            inode = int(fields[9])
            if inode:
                out.add(inode)
    return out


def movable(groups: Iterable[str], own: Iterable[str] = (),
            source_specific: Iterable[str] = ()) -> set[str]:
    """The groups worth moving: not the kernel's, not the daemon's own (the configured
    groups it joins on the nominee) and not source-specific (re-joining those as
    any-source would change what the application receives)."""
    skip = set(own) | set(source_specific)
    return {g for g in groups if not is_kernel_group(g) and g not in skip}


# ---------------------------------------------------------------------- readers
PROC_NET = "/proc/self/net"
_GROUP_FILES = {INET: ("igmp", parse_igmp), INET6: ("igmp6", parse_igmp6)}
_FILTER_FILES = {INET: ("mcfilter", parse_mcfilter), INET6: ("mcfilter6", parse_mcfilter6)}


def _read(name: str) -> str:
    try:
        with open(f"{PROC_NET}/{name}", encoding="ascii", errors="replace") as fh:
            return fh.read()
    except OSError as exc:
        log.debug("cannot read %s/%s: %s", PROC_NET, name, exc)
        return ""


def read_memberships(family: str) -> Memberships:
    """The multicast groups joined per interface in the daemon's namespace."""
    name, parse = _GROUP_FILES[family]
    return parse(_read(name))


def read_source_filters(family: str) -> Memberships:
    """Groups with source filters (source-specific memberships) per interface."""
    name, parse = _FILTER_FILES[family]
    return parse(_read(name))


def namespace_socket_inodes() -> set[int]:
    """Inodes of the UDP and raw sockets of the daemon's network namespace: sockets of
    other namespaces are not listed, so they are never touched."""
    out: set[int] = set()
    for name in ("udp", "udp6", "raw", "raw6"):
        out |= parse_socket_inodes(_read(name))
    return out


# ---------------------------------------------------------------------- moving
@dataclass(frozen=True)
class Moved:
    """One membership moved: ``group`` of process ``pid`` (its descriptor ``fd``)."""

    pid: int
    fd: int
    group: str
    family: str
    from_ifindex: int
    to_ifindex: int


def _pidfd_getfd_function() -> object | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    fn = getattr(libc, "pidfd_getfd", None)
    if fn is not None:  # glibc >= 2.36
        fn.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_uint)
        fn.restype = ctypes.c_int
        return fn
    syscall = libc.syscall
    nr = _PIDFD_GETFD_NR.get(platform.machine(), PIDFD_GETFD_NR_DEFAULT)

    def via_syscall(pidfd: int, fd: int, flags: int) -> int:
        return int(syscall(ctypes.c_long(nr), ctypes.c_int(pidfd), ctypes.c_int(fd),
                           ctypes.c_uint(flags)))

    return via_syscall


_pidfd_getfd = _pidfd_getfd_function()


def pidfd_getfd(pidfd: int, fd: int) -> int:
    """Duplicate descriptor ``fd`` of the process behind ``pidfd`` into this process."""
    if _pidfd_getfd is None:
        raise OSError(38, "pidfd_getfd is not available")
    ret = _pidfd_getfd(pidfd, fd, 0)  # type: ignore[operator]
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(ret)


def socket_fds(inodes: set[int], proc: str = "/proc") -> dict[int, list[tuple[int, int]]]:
    """pid -> [(fd, inode)] of the sockets in ``inodes`` held by processes other than
    this one; each socket once (a socket shared after fork is handled through the first
    process found)."""
    me = os.getpid()
    seen: set[int] = set()
    out: dict[int, list[tuple[int, int]]] = {}
    found = 0
    try:
        entries = os.listdir(proc)
    except OSError as exc:
        log.warning("cannot list %s: %s", proc, exc.strerror)
        return out
    pids = [int(e) for e in entries if e.isdigit()][:MAX_PIDS]
    for pid in pids:
        if pid == me:
            continue
        fd_dir = f"{proc}/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:  # gone, or a kernel thread
            continue
        for name in fds[:MAX_FDS_PER_PID]:
            try:
                target = os.readlink(f"{fd_dir}/{name}")
            except OSError:
                continue
            if not target.startswith("socket:["):
                continue
            try:
                inode = int(target[8:-1])
            except ValueError:
                continue
            if inode not in inodes or inode in seen:
                continue
            seen.add(inode)
            out.setdefault(pid, []).append((int(name), inode))
            found += 1
            if found >= MAX_CANDIDATES:
                return out
    return out


def _mreq(family: str, group: str, ifindex: int) -> bytes:
    if family == INET6:
        return socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", ifindex)
    # struct ip_mreqn: group, local address (any), interface index
    return socket.inet_aton(group) + socket.inet_aton("0.0.0.0") + struct.pack("@i", ifindex)


def _drop(sock: socket.socket, family: str, group: str, ifindex: int) -> None:
    if family == INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_DROP_MEMBERSHIP, _mreq(family, group, ifindex))
    else:
        sock.setsockopt(socket.IPPROTO_IP, IP_DROP_MEMBERSHIP, _mreq(family, group, ifindex))


def _add(sock: socket.socket, family: str, group: str, ifindex: int) -> None:
    if family == INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, _mreq(family, group, ifindex))
    else:
        sock.setsockopt(socket.IPPROTO_IP, IP_ADD_MEMBERSHIP, _mreq(family, group, ifindex))


def _bound_device(sock: socket.socket) -> str:
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, IFNAMSIZ)
    except OSError:
        return ""
    return raw.split(b"\0", 1)[0].decode(errors="replace")


def _move_on_socket(sock: socket.socket, pid: int, fd: int, groups: list[str], family: str,
                    from_ifindex: int, to_ifindex: int) -> list[Moved]:
    out: list[Moved] = []
    for group in groups:
        try:
            _drop(sock, family, group, from_ifindex)
        except OSError:
            # Not held on that interface (EADDRNOTAVAIL), or not this kind of socket.
            # The kernel records the interface it chose for a join with interface 0, in
            # both families, so the index always matches a membership made there.
            continue
        try:
            _add(sock, family, group, to_ifindex)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:  # it held the group there as well
                out.append(Moved(pid, fd, group, family, from_ifindex, to_ifindex))
                continue
            log.warning("cannot move multicast membership %s of pid %d to interface %d: %s; "
                        "restoring it", group, pid, to_ifindex, exc.strerror)
            with contextlib.suppress(OSError):
                _add(sock, family, group, from_ifindex)
            continue
        out.append(Moved(pid, fd, group, family, from_ifindex, to_ifindex))
    return out


def move_memberships(groups: Iterable[str], family: str, from_ifindex: int,
                     to_ifindex: int, *, from_name: str = "") -> list[Moved]:
    """Move the memberships of ``groups`` (family "inet" or "inet6") that sockets of other
    processes of this namespace hold on interface ``from_ifindex`` to ``to_ifindex``.

    Sockets bound to ``from_name`` (SO_BINDTODEVICE) are left alone: they would receive
    nothing on another interface. Returns what moved; never raises."""
    wanted = sorted({g for g in groups if not is_kernel_group(g)})
    if not wanted or from_ifindex == to_ifindex or to_ifindex <= 0:
        return []
    try:
        candidates = socket_fds(namespace_socket_inodes())
    except Exception:  # never into the daemon
        log.exception("cannot list the sockets of this namespace")
        return []
    moved: list[Moved] = []
    for pid, fds in candidates.items():
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:  # exited meanwhile
            continue
        try:
            for fd, _inode in fds:
                try:
                    dup = pidfd_getfd(pidfd, fd)
                except OSError as exc:
                    log.debug("cannot borrow fd %d of pid %d: %s", fd, pid, exc.strerror)
                    continue
                try:
                    sock = socket.socket(fileno=dup)
                except OSError:
                    os.close(dup)
                    continue
                try:
                    if from_name and _bound_device(sock) == from_name:
                        continue
                    moved += _move_on_socket(sock, pid, fd, wanted, family, from_ifindex,
                                             to_ifindex)
                except Exception:
                    log.exception("error while moving memberships of pid %d", pid)
                finally:
                    sock.close()  # closes only our duplicate
        finally:
            os.close(pidfd)
    return moved
