"""Meta-data XML and the Markdown reference, both generated from an Agent's declarations.

Profile "compat" (the default) is OCF 1.1 that still passes ocf-tester's legacy DTD;
profile "ocf-1.1" is plain OCF 1.1. Why two, and what each writes: docs/design.md,
"Meta-data: two schemas, two profiles".
"""

from __future__ import annotations

import inspect
import os

from ocf.params import Parameter, format_value

TYPE_CHECKING = False
if TYPE_CHECKING:  # ocf.agent imports this module when asked for meta-data: no circle
    from lxml.etree import _Element

    from ocf.agent import Agent

OCF_VERSION = "1.1"
COMPAT = "compat"
OCF_1_1 = "ocf-1.1"
SCHEMA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas")
DTD_NAME = "ra-api-1.dtd"
DTD_PATH = os.path.join(SCHEMA_DIR, DTD_NAME)
RNG_PATH = os.path.join(SCHEMA_DIR, "ra-api-1.1.rng")

#: The action names ra-api-1.dtd enumerates (the internal subset lifts the restriction).
DTD_ACTIONS = frozenset({
    "start", "stop", "recover", "monitor", "restart", "migrate_to", "migrate_from",
    "promote", "demote", "notify", "status", "reload", "meta-data", "usage", "methods",
    "validate-all",
})
#: What the legacy DTD lacks from OCF 1.1, declared in the DOCTYPE's internal subset.
DTD_SUBSET = (
    "<!ATTLIST parameter unique-group CDATA #IMPLIED reloadable (1|0) \"0\">\n"
    "<!ATTLIST action name CDATA #REQUIRED>"
)


def to_xml(agent: Agent, profile: str | None = None) -> str:
    """The meta-data document ``meta-data`` prints (profile defaults to the agent's)."""
    from lxml import etree

    full = (profile or agent.metadata_profile) == OCF_1_1
    groups = unique_groups(agent)
    root = etree.Element("resource-agent", name=agent.name, version=agent.version)
    etree.SubElement(root, "version").text = OCF_VERSION
    _desc(root, "longdesc", clean(agent.longdesc) or clean(agent.shortdesc))
    _desc(root, "shortdesc", clean(agent.shortdesc))
    parameters = etree.SubElement(root, "parameters")
    for param in agent.parameters.values():
        _parameter(parameters, param, groups, full)
    actions = etree.SubElement(root, "actions")
    for spec in agent.actions:
        element = etree.SubElement(actions, "action", name=spec.name,
                                   timeout=f"{spec.timeout}s")
        if spec.interval is not None:
            element.set("interval", f"{spec.interval}s")
        if spec.depth is not None:
            element.set("depth", str(spec.depth))
        if spec.role is not None:
            element.set("role", spec.role)
    header = '<?xml version="1.0"?>\n'
    if not full:
        header += f'<!DOCTYPE resource-agent SYSTEM "{DTD_NAME}" [\n{DTD_SUBSET}\n]>\n'
    return header + etree.tostring(root, pretty_print=True, encoding="unicode")


def _parameter(parent: _Element, param: Parameter, groups: dict[str, list[str]],
               full: bool) -> None:
    from lxml import etree

    element = etree.SubElement(parent, "parameter", name=param.name,
                               required=_flag(param.required))
    if not full:
        alone = param.unique_group is not None and len(groups[param.unique_group]) == 1
        element.set("unique", _flag(alone))
    if param.unique_group is not None:
        element.set("unique-group", param.unique_group)
    element.set("reloadable", _flag(param.reloadable))
    longdesc = clean(param.longdesc) or clean(param.shortdesc) or param.name
    if not full:
        longdesc = "\n".join([longdesc, *compat_notes(param, groups)])
    _desc(element, "longdesc", longdesc)
    _desc(element, "shortdesc", clean(param.shortdesc) or param.name)
    select = full and param.type == "select"
    content = etree.SubElement(element, "content",
                               type="string" if param.type == "select" and not full
                               else param.type)
    if param.default is not None:
        content.set("default", format_value(param.default))
    if select:
        for choice in param.choices:
            etree.SubElement(content, "option", value=choice)


def compat_notes(param: Parameter, groups: dict[str, list[str]]) -> list[str]:
    """Sentences that carry, in prose, what the compat profile cannot say in attributes."""
    notes = []
    if param.type == "select":
        notes.append("Allowed values: " + ", ".join(param.choices) + ".")
    members = groups.get(param.unique_group or "", [])
    if len(members) > 1:
        notes.append(f"The combination of {', '.join(members)} must be unique among "
                     "resources of this agent.")
    return notes


def _desc(parent: _Element, tag: str, text: str) -> None:
    from lxml import etree

    etree.SubElement(parent, tag, lang="en").text = text


def _flag(value: bool) -> str:
    return "1" if value else "0"


def clean(text: str) -> str:
    """Docstring-style text without its source indentation."""
    return inspect.cleandoc(text) if text else ""


def unique_groups(agent: Agent) -> dict[str, list[str]]:
    """Unique group name -> member parameter names, in declaration order."""
    groups: dict[str, list[str]] = {}
    for param in agent.parameters.values():
        if param.unique_group is not None:
            groups.setdefault(param.unique_group, []).append(param.name)
    return groups


# ---------------------------------------------------------------------- validation


def validate(xml: str, schema: str) -> list[str]:
    """Errors of ``xml`` against the shipped "dtd" or "rng"; an empty list means valid.

    The DTD check is xmllint's ``--valid`` as ocf-tester runs it: the document must
    carry a DOCTYPE, whose system id is resolved next to the shipped ra-api-1.dtd.
    """
    from lxml import etree

    data = xml.encode("utf-8")
    if schema == "dtd":
        parser = etree.XMLParser(dtd_validation=True, load_dtd=True, no_network=True)
        try:
            etree.fromstring(data, parser, base_url=os.path.join(SCHEMA_DIR, "meta-data.xml"))
        except etree.XMLSyntaxError as err:
            return [entry.message for entry in parser.error_log] or [str(err)]
        return []
    if schema == "rng":
        relaxng = etree.RelaxNG(etree.parse(RNG_PATH))
        if relaxng.validate(etree.fromstring(data)):
            return []
        return [entry.message for entry in relaxng.error_log]
    raise ValueError(f"schema must be 'dtd' or 'rng', not {schema!r}")


# ---------------------------------------------------------------------- Markdown


def markdown(agent: Agent) -> str:
    """A Markdown reference for the agent: what ``pcs resource describe`` tells, and more."""
    groups = unique_groups(agent)
    title = f"ocf:{agent.provider}:{agent.name}" if agent.provider else agent.name
    lines = [f"# {title}", "", clean(agent.shortdesc), "", clean(agent.longdesc), "",
             f"Agent version {agent.version}, OCF resource agent API {OCF_VERSION}.", ""]
    if agent.provider:
        required = " ".join(f"{p.name}=VALUE" for p in agent.parameters.values() if p.required)
        lines += ["```", f"pcs resource create NAME {title} {required}".rstrip(), "```", ""]
    lines += ["## Parameters", "",
              "| Name | Type | Default | Required | Reloadable | Description |",
              "|---|---|---|---|---|---|"]
    for param in agent.parameters.values():
        default = "" if param.default is None else f"`{format_value(param.default)}`"
        lines.append("| " + " | ".join([
            f"`{param.name}`", param.type, default, _yes(param.required),
            _yes(param.reloadable), _cell(clean(param.shortdesc)),
        ]) + " |")
    lines.append("")
    for param in agent.parameters.values():
        lines += [f"### `{param.name}`", "", clean(param.longdesc) or clean(param.shortdesc)]
        if param.choices:
            lines += ["", "Allowed values: " + ", ".join(f"`{c}`" for c in param.choices) + "."]
        members = groups.get(param.unique_group or "", [])
        if len(members) == 1:
            lines += ["", "Must be unique among resources of this agent."]
        elif members:
            lines += ["", "The combination of " + ", ".join(f"`{m}`" for m in members)
                      + " must be unique among resources of this agent."]
        lines.append("")
    if any(p.reloadable for p in agent.parameters.values()):
        lines += ["A change of a reloadable parameter (`pcs resource update`) is applied in "
                  "place by the `reload-agent` action (Pacemaker >= 2.1); a change of any "
                  "other parameter restarts the resource.", ""]
    lines += ["## Actions", "", "| Action | Timeout | Interval | Depth | Role |",
              "|---|---|---|---|---|"]
    for spec in agent.actions:
        lines.append("| " + " | ".join([
            f"`{spec.name}`", f"{spec.timeout}s",
            "" if spec.interval is None else f"{spec.interval}s",
            "" if spec.depth is None else str(spec.depth), spec.role or "",
        ]) + " |")
    return "\n".join(lines).rstrip() + "\n"


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _cell(text: str) -> str:
    """Table cells are one line and must not split on a pipe."""
    return " ".join(text.split()).replace("|", "\\|")
