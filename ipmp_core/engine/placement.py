"""Where each data address of a group lives (the kernel ipmp.c's ipmp_illgrp_* rules).

Pure functions over a binding map {address: member or None}. The rules:
- a new address binds to the active member with the fewest addresses;
- addresses of a member that stops being active go, one at a time, to the least-loaded
  active member; with no active member they stay unbound;
- a member that becomes active takes addresses from the busiest members until the counts
  differ by at most one. Nothing else moves: every move costs an announcement and
  a short outage, so a stable binding is worth more than a perfect spread.
Ties break by the members' configured order, so the outcome is deterministic.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

A = TypeVar("A", bound=Hashable)


def loads(binding: dict[A, str | None], active: Sequence[str]) -> dict[str, int]:
    counts = {m: 0 for m in active}
    for member in binding.values():
        if member in counts:
            counts[member] += 1
    return counts


def least_loaded(binding: dict[A, str | None], active: Sequence[str]) -> str | None:
    """The active member with the fewest addresses (first in order on a tie)."""
    if not active:
        return None
    counts = loads(binding, active)
    return min(active, key=lambda m: (counts[m], active.index(m)))


def rebalance(
    binding: dict[A, str | None], active: Sequence[str], newly_active: Sequence[str]
) -> dict[A, str | None]:
    """The new binding after the active set became ``active``.

    ``binding`` is in the addresses' order; ``newly_active`` are members that just became
    active and may take addresses from the busiest ones.
    """
    # The counts are kept as addresses are placed: recounting for each homeless address
    # made a failover of 1,000 addresses cost ~80 ms in this function alone.
    result: dict[A, str | None] = {}
    homeless: list[A] = []
    counts = {m: 0 for m in active}
    for addr, member in binding.items():
        if member is not None and member in counts:
            result[addr] = member
            counts[member] += 1
        else:
            result[addr] = None
            homeless.append(addr)
    order = {m: i for i, m in enumerate(active)}
    if active:
        for addr in homeless:
            member = min(active, key=lambda m: (counts[m], order[m]))
            result[addr] = member
            counts[member] += 1
    for taker in newly_active:
        if taker not in active:
            continue
        _take_from_busiest(result, active, taker)
    return result


def _take_from_busiest(binding: dict[A, str | None], active: Sequence[str], taker: str) -> None:
    counts = loads(binding, active)
    order = {m: i for i, m in enumerate(active)}
    held: dict[str, list[A]] = {m: [] for m in active}  # in the binding's order
    for addr, member in binding.items():
        if member in held:
            held[member].append(addr)
    # Bounded: each move lowers the busiest count, so at most len(binding) iterations.
    for _ in range(len(binding)):
        busiest = max(active, key=lambda m: (counts[m], -order[m]))
        if counts[busiest] - counts[taker] <= 1:
            return
        # Move the address the busiest member got last: the older ones stay put.
        victim = held[busiest].pop()
        binding[victim] = taker
        counts[busiest] -= 1
        counts[taker] += 1
