"""An agent's manual page, ocf_PROVIDER_NAME(7), from its declarations (the meta-data's).

The sections are those resource-agents' ra2refentry.xsl gives its ocf_heartbeat_*(7)
pages (synopsis of the actions, description, supported parameters, supported actions,
an example), so an administrator finds ours where they find theirs.
"""

from __future__ import annotations

from ocf.metadata import OCF_VERSION, clean, unique_groups
from ocf.params import format_value
from ocf.roff import Page, escape, literal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ocf.agent import ActionSpec, Agent
    from ocf.params import Parameter

AGENT_SECTION = 7  # resource-agents' section for its agents' pages


def page_name(agent: Agent) -> str:
    """ocf_clearview_ipmp: the page's name, as resource-agents names its pages."""
    return f"ocf_{agent.provider}_{agent.name}"


def agent_page(agent: Agent, source: str, see_also: list[str]) -> str:
    """The roff source of the agent's page; ``source`` is the package and version for
    the page footer, ``see_also`` "name(section)" references."""
    title = f"ocf:{agent.provider}:{agent.name}"
    page = Page(page_name(agent), AGENT_SECTION, source, "OCF resource agents")
    page.section("Name")
    page.raw(f"{literal(page_name(agent))} \\- {escape(clean(agent.shortdesc))}")
    page.section("Synopsis")
    actions = list(dict.fromkeys(agent.action_names()))
    page.raw(f".B {literal(agent.name)}")
    page.raw("[" + " | ".join(literal(a) for a in actions) + "]")
    page.section("Description")
    page.para(agent.longdesc or agent.shortdesc)
    page.para(f"Agent version {agent.version}, OCF resource agent API {OCF_VERSION}.")
    page.section("Supported parameters")
    groups = unique_groups(agent)
    for param in agent.parameters.values():
        page.tagged(param.name, _parameter_text(param, groups))
    page.section("Supported actions")
    page.para("The timeouts and intervals are the agent's advice; pcs copies them into "
              "the resource's operations.")
    for spec in agent.actions:
        page.tagged(spec.name, _action_text(spec))
    page.section("Example")
    required = " ".join(f"{p.name}=VALUE" for p in agent.parameters.values() if p.required)
    page.para(f"A resource of this agent, created with pcs(8) (NAME is yours; see "
              f"pcs resource describe {title}):")
    page.example([f"pcs resource create NAME {title} {required}".rstrip()])
    page.see_also(see_also)
    return page.text()


def _parameter_text(param: Parameter, groups: dict[str, list[str]]) -> str:
    facts = [param.type, "required" if param.required else "optional"]
    if param.default is not None:
        facts.append(f"default {format_value(param.default)}")
    if param.reloadable:
        facts.append("reloadable")
    parts = [f"{clean(param.shortdesc) or param.name} ({', '.join(facts)}).",
             clean(param.longdesc)]
    if param.choices:
        parts.append("Allowed values: " + ", ".join(param.choices) + ".")
    members = groups.get(param.unique_group or "", [])
    if len(members) == 1:
        parts.append("Must be unique among resources of this agent.")
    elif members:
        parts.append(f"The combination of {', '.join(members)} must be unique among "
                     "resources of this agent.")
    return "\n\n".join(p for p in parts if p)


def _action_text(spec: ActionSpec) -> str:
    facts = [f"timeout {spec.timeout}s"]
    if spec.interval is not None:
        facts.append(f"interval {spec.interval}s")
    if spec.depth is not None:
        facts.append(f"depth {spec.depth}")
    if spec.role is not None:
        facts.append(f"role {spec.role}")
    return ", ".join(facts).capitalize() + "."
