"""A fake world for driving the engine: interfaces with MACs and carriers, a fake clock."""

from __future__ import annotations

from ipmp_core.engine.actions import Action, BindAddress, Log, UnbindAddress
from ipmp_core.engine.engine import Engine


class World:
    def __init__(self, *names: str) -> None:
        self.engine = Engine()
        self.now = 1_000.0
        self.actions: list[Action] = []
        for i, name in enumerate(names, start=2):
            self.link(name, up=True, mac=f"02:00:00:00:00:{i:02x}", ifindex=i)

    def advance(self, ms: float) -> list[Action]:
        self.now += ms
        return self.record(self.engine.tick(self.now))

    def record(self, actions: list[Action]) -> list[Action]:
        self.actions.extend(actions)
        return actions

    def link(self, name: str, *, up: bool | None, mac: str | None = None,
             ifindex: int | None = None, admin_up: bool = True) -> list[Action]:
        old = self.engine.observed.get(name)
        return self.record(self.engine.link_observed(
            name, self.now,
            ifindex=ifindex if ifindex is not None else (old.ifindex if old else 99),
            mac=mac if mac is not None else (old.mac if old else "02:00:00:00:00:99"),
            carrier=up, admin_up=admin_up,
        ))

    def group(self, name: str, *members: str, standby: tuple[str, ...] = (),
              failback: bool = True) -> None:
        self.record(self.engine.create_group(name, self.now, failback=failback))
        for m in members:
            self.record(self.engine.add_member(name, m, self.now))
        for m in standby:
            self.record(self.engine.add_member(name, m, self.now, standby=True))

    def addr(self, group: str, *addrs: str) -> None:
        for a in addrs:
            self.record(self.engine.add_data_address(group, a, self.now))

    # ------------------------------------------------------------------ views
    def where(self) -> dict[str, str]:
        """address -> member ('' when unbound), from the snapshot."""
        return {a.address: a.inbound for a in self.engine.snapshot().addresses}

    def load(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for member in self.where().values():
            if member:
                counts[member] = counts.get(member, 0) + 1
        return counts

    def iface(self, name: str):  # noqa: ANN201
        return next(i for i in self.engine.snapshot().interfaces if i.name == name)

    def group_view(self, name: str):  # noqa: ANN201
        return next(g for g in self.engine.snapshot().groups if g.name == name)

    def logs(self, actions: list[Action] | None = None) -> list[str]:
        return [a.message for a in (self.actions if actions is None else actions)
                if isinstance(a, Log)]

    @staticmethod
    def binds(actions: list[Action]) -> list[BindAddress]:
        return [a for a in actions if isinstance(a, BindAddress)]

    @staticmethod
    def unbinds(actions: list[Action]) -> list[UnbindAddress]:
        return [a for a in actions if isinstance(a, UnbindAddress)]
