"""crm_mon's XML as the tests read it: resources, failed actions, node attributes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field


@dataclass
class Resource:
    """One primitive (one clone instance of a cloned primitive) as crm_mon reports it."""

    id: str
    agent: str
    role: str
    active: bool
    failed: bool
    managed: bool
    nodes: list[str]
    parent: str | None = None  # the clone or group id, if any

    @property
    def node(self) -> str | None:
        return self.nodes[0] if self.nodes else None


@dataclass
class FailedAction:
    op_key: str
    node: str
    rsc: str
    task: str
    exitstatus: str
    exitcode: int | None
    exitreason: str
    status: str
    interval_ms: int


@dataclass
class ClusterState:
    """Parsed ``crm_mon -1 --output-as=xml`` (as seen from one node)."""

    xml: str
    dc: str | None
    online: set[str]
    offline: set[str]
    resources: list[Resource]
    failures: list[FailedAction]
    attributes: dict[str, dict[str, str]]
    history: dict[str, dict[str, list[dict[str, str]]]] = field(default_factory=dict)

    def instances(self, rsc: str) -> list[Resource]:
        """All entries for primitive ``rsc`` (several for a clone), or for clone ``rsc``."""
        return [r for r in self.resources if r.id == rsc or r.parent == rsc]

    def started_on(self, rsc: str) -> set[str]:
        """Nodes on which ``rsc`` (a primitive or a clone id) is active and Started."""
        return {
            n
            for r in self.instances(rsc)
            if r.active and r.role in ("Started", "Promoted", "Unpromoted")
            for n in r.nodes
        }

    def attr(self, node: str, name: str) -> str | None:
        return self.attributes.get(node, {}).get(name)

    def failures_of(self, rsc: str) -> list[FailedAction]:
        return [f for f in self.failures if f.rsc == rsc or f.rsc.split(":")[0] == rsc]


def _bool(text: str | None) -> bool:
    return text == "true"


def _rsc_of_op_key(op_key: str, task: str, interval: int) -> str:
    suffix = f"_{task}_{interval}"
    return op_key[: -len(suffix)] if op_key.endswith(suffix) else op_key.rsplit("_", 2)[0]


def parse_crm_mon(xml_text: str) -> ClusterState:
    root = ET.fromstring(xml_text)
    dc_el = root.find("./summary/current_dc")
    dc = dc_el.get("name") if dc_el is not None and _bool(dc_el.get("present")) else None
    online: set[str] = set()
    offline: set[str] = set()
    for node in root.iterfind("./nodes/node"):
        (online if _bool(node.get("online")) else offline).add(node.get("name", "?"))

    resources: list[Resource] = []

    def walk(el: ET.Element, parent: str | None) -> None:
        for child in el:
            if child.tag == "resource":
                resources.append(
                    Resource(
                        id=child.get("id", "?"),
                        agent=child.get("resource_agent", ""),
                        role=child.get("role", ""),
                        active=_bool(child.get("active")),
                        failed=_bool(child.get("failed")),
                        managed=_bool(child.get("managed", "true")),
                        nodes=[n.get("name", "?") for n in child.iterfind("node")],
                        parent=parent,
                    )
                )
            elif child.tag in ("clone", "group", "bundle"):
                walk(child, child.get("id") if parent is None else parent)

    resources_el = root.find("./resources")
    if resources_el is not None:
        walk(resources_el, None)

    failures = []
    for f in root.iterfind("./failures/failure"):
        task = f.get("task", "")
        interval = int(f.get("interval", "0") or 0)
        op_key = f.get("op_key", "")
        code = f.get("exitcode")
        failures.append(
            FailedAction(
                op_key=op_key,
                node=f.get("node", "?"),
                rsc=_rsc_of_op_key(op_key, task, interval),
                task=task,
                exitstatus=f.get("exitstatus", ""),
                exitcode=int(code) if code is not None and code.lstrip("-").isdigit() else None,
                exitreason=f.get("exitreason", ""),
                status=f.get("status", ""),
                interval_ms=interval,
            )
        )

    attributes: dict[str, dict[str, str]] = {}
    for node in root.iterfind("./node_attributes/node"):
        attributes[node.get("name", "?")] = {
            a.get("name", "?"): a.get("value", "") for a in node.iterfind("attribute")
        }

    history: dict[str, dict[str, list[dict[str, str]]]] = {}
    for node in root.iterfind("./node_history/node"):
        per = history.setdefault(node.get("name", "?"), {})
        for rh in node.iterfind("resource_history"):
            per[rh.get("id", "?")] = [dict(op.attrib) for op in rh.iterfind("operation_history")]

    return ClusterState(
        xml=xml_text,
        dc=dc,
        online=online,
        offline=offline,
        resources=resources,
        failures=failures,
        attributes=attributes,
        history=history,
    )


