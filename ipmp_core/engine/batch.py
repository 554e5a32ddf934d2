"""The order of a batch: every engine call's actions end with a tail rebuilt from the
call's binds, so the daemon only carries them out in order.

After the binds, routes and every other action of the call as the rules emitted them:
the old copies of moved addresses come off (make before break), DHCP sessions follow
their addresses, new IPv6 addresses wait for DAD, stray copies of new addresses come
off, and last the announcements, for the addresses the call left where it put them (the
"still bound" rule). A neighbour that hears an announcement must find the replies
leaving through a live member.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Generator, Iterable
from typing import Any, Protocol, TypeVar

from ipmp_core.engine.actions import (
    Action,
    Announce,
    AwaitDad,
    BindAddress,
    ClearStrayCopies,
    FollowDhcp,
    RemoveOldCopy,
)
from ipmp_core.engine.state import DhcpOwner
from ipmp_core.engine.tables import Tables

# The façade's entry points whose actions go out as one ordered batch (order_batch).
# Calls nested in them are not ordered on their own; ordering a batch twice is harmless
# (order_batch rebuilds the tail from the batch's binds).
ORDERED_ENTRY_POINTS = (
    "link_observed", "link_removed", "address_observed", "routers_observed",
    "probe_reply", "tick", "set_linklocal_probes", "set_multicast", "set_targets",
    "create_group", "delete_group", "set_attribute", "set_failback", "set_fdt",
    "add_route", "remove_route", "add_member", "remove_member", "set_standby", "offline",
    "online", "set_test_addresses", "dhcp_test_lease", "set_track_all", "add_data_address",
    "add_dhcp_data", "dhcp_data_lease", "remove_data_address", "add_data_addresses",
    "add_data_address_list", "add_test_address", "remove_test_address", "load",
    "load_steps", "removed_by_someone", "republish_attribute",
    "set_transitive_probing",
)
# The tail's actions, rebuilt by every order_batch.
_TAIL = (RemoveOldCopy, FollowDhcp, AwaitDad, ClearStrayCopies, Announce)


def order_batch(tables: Tables, actions: list[Action]) -> list[Action]:
    """``actions`` with the tail rebuilt after the rest (see the module docstring). Runs
    after every entry point (a failover of 1,000 addresses passes here once): each
    address is hashed as few times as possible (ipaddress hashes in Python). The
    batch's events get their version and signatures here, in the order they go out
    (engine/signatures.py)."""
    tables.signatures.stamp(actions)
    binds = [a for a in actions if type(a) is BindAddress]
    if not binds:
        return actions
    out = [a for a in actions if not isinstance(a, _TAIL)]
    final: dict[Any, BindAddress] = {}  # address -> its last bind of the batch
    for bind in binds:
        final[bind.address] = bind
    ends = [_bound_to(tables, bind) for bind in final.values()]
    end_of = dict(zip(final, ends, strict=True)) if len(final) < len(binds) else None
    if end_of is None:  # the usual case: each address bound once
        pairs = list(zip(binds, ends, strict=True))
    else:
        pairs = [(bind, end_of[bind.address]) for bind in binds]
    # An address moved away and back within the call keeps the copy it ends on.
    tail: list[Action] = [RemoveOldCopy(b.group, b.address, b.previous) for b, end in pairs
                          if b.previous is not None and end != b.previous]
    tail += _follow_dhcp(tables, binds)
    tail += [AwaitDad(b.group, b.address, b.member) for b in binds
             if b.dad and b.address.version == 6]
    # A copy on another interface of a new address (or one found at a restart) is stray:
    # it comes off, except where the address ends.
    tail += [ClearStrayCopies(b.group, b.address, end or b.member) for b, end in pairs
             if b.previous is None]
    if end_of is not None:
        tail = _dedupe(tail)
    out += tail
    out += [Announce(b.group, b.address, b.member) for b, end in zip(final.values(), ends,
                                                                      strict=True)
            if b.announce and end == b.member]
    return out


def _bound_to(tables: Tables, bind: BindAddress) -> str | None:
    """Where the engine has the address at the end of the call. A batch can move an
    address and take it down again (both cables of a node out: the second loss is read
    in the same batch); announcing it then would schedule a repeat burst that, seconds
    later and after a repair, claims for this node an address another node holds."""
    group = tables.groups.get(bind.group)
    return group.binding.get(bind.address) if group is not None else None


def _dedupe(actions: Iterable[Action]) -> list[Action]:
    return list(dict.fromkeys(actions))


def _follow_dhcp(tables: Tables, binds: list[BindAddress]) -> list[Action]:
    """A DHCP data address bound somewhere: its session renews through that member (and
    a new lease of its slot goes there: the server answers there)."""
    out: list[Action] = []
    for bind in binds:
        group = tables.groups.get(bind.group)
        if group is None or not group.dhcp_slots:  # no DHCP address: no lookup
            continue
        owner = group.owners.get(bind.address)
        if isinstance(owner, DhcpOwner):
            tables.dhcp_members[(bind.group, owner.slot)] = bind.member
            out.append(FollowDhcp(bind.group, owner.slot, bind.member, bind.address))
    return out


class _Facade(Protocol):
    """What the ordering needs of the façade it decorates (engine.py's Engine)."""

    tables: Tables


_Class = TypeVar("_Class", bound=type)


def ordered_batches(cls: _Class) -> _Class:
    """Class decorator of the façade: every ORDERED_ENTRY_POINTS method returns its
    batch ordered."""
    for name in ORDERED_ENTRY_POINTS:
        setattr(cls, name, _ordering(getattr(cls, name)))
    return cls


def _ordering(method: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.isgeneratorfunction(method):
        @functools.wraps(method)
        def steps(self: _Facade, *args: Any, **kwargs: Any
                  ) -> Generator[None, None, list[Action]]:
            return order_batch(self.tables, (yield from method(self, *args, **kwargs)))
        return steps

    @functools.wraps(method)
    def call(self: _Facade, *args: Any, **kwargs: Any) -> list[Action]:
        actions = method(self, *args, **kwargs)
        return order_batch(self.tables, actions) if actions else actions  # most replies
    return call
