"""Every file generated from the declarations, by its path in the checkout: the agent
reference, the manual pages and the bash completion. `make docs` (ipmp-ocf docs --tree)
writes them; tests/unit/docs fails when a committed one differs from what is generated."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

MAN_DIR = "man"
COMPLETION_FILE = "completion/clearview-ipmp"
AGENT_REFERENCE = "docs/agents.md"
SEE_ALSO_AGENT = ["ipmp-ocf(8)", "ipmpd(8)", "ipmpadm(8)", "pcs(8)"]


def _commands(ocf_cli: ModuleType) -> dict[str, Callable[[], str]]:
    from agents.manpages import command_page
    from ipmp_core import ipmpstat_fields
    from ipmp_core.cli import ipmpadm, ipmpd, ipmpstat

    fields = tuple(
        (f"-{mode.value} fields", ", ".join(f.name for f in found))
        for mode, found in ipmpstat_fields.FIELDS.items())
    agents = "\n\n".join(f"{name}: {text}" for name, text in ocf_cli.agent_rows())
    return {
        "ipmpd": lambda: command_page("ipmpd", ipmpd.cli),
        "ipmpadm": lambda: command_page("ipmpadm", ipmpadm.cli),
        "ipmpstat": lambda: command_page(
            "ipmpstat", ipmpstat.ipmpstat,
            (("Output fields", "\n\n".join(f"{t}: {v}." for t, v in fields)),)),
        "ipmp-ocf": lambda: command_page("ipmp-ocf", ocf_cli.cli, (("Agents", agents),)),
    }


def generated(ocf_cli: ModuleType) -> dict[str, str]:
    """Path in the checkout -> the text generated now. ``ocf_cli`` is agents.cli (ipmp-ocf
    and the agents' registry), passed in because it calls this: no import cycle."""
    from agents.completion import bash_completion
    from agents.manpages import ADMIN_SECTION, DEFAULTS_PAGE, FILE_SECTION, SOURCE, defaults_page
    from ipmp_core.defaults_file import KEYS
    from ocf.manpage import AGENT_SECTION, agent_page, page_name

    files = {AGENT_REFERENCE: ocf_cli.reference()}
    for name, render in _commands(ocf_cli).items():
        files[f"{MAN_DIR}/{name}.{ADMIN_SECTION}"] = render()
    for agent in ocf_cli.agents().values():
        others = [f"{page_name(a)}({AGENT_SECTION})" for a in ocf_cli.agents().values()
                  if a is not agent]
        files[f"{MAN_DIR}/{page_name(agent)}.{AGENT_SECTION}"] = agent_page(
            agent, SOURCE, others + SEE_ALSO_AGENT)
    files[f"{MAN_DIR}/{DEFAULTS_PAGE}.{FILE_SECTION}"] = defaults_page(KEYS)
    files[COMPLETION_FILE] = bash_completion(ocf_cli)
    return files
