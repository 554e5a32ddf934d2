"""The manual pages of the commands (section 8) and of the defaults file (section 5),
generated from the click declarations that --help prints and from the defaults file's
KEYS, the way ocf.manpage writes the agents' pages from their meta-data declarations.

What a page says beyond the declarations (exit status, files, environment) is kept in
EXTRAS below, next to the generator, so that nothing is written twice in roff.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable

import click

from ipmp_core import __version__
from ipmp_core.defaults_file import Key
from ocf.roff import Page, escape, literal

SOURCE = f"clearview-ipmp {__version__}"
MANUAL = "clearview-ipmp"
ADMIN_SECTION = 8  # system administration commands
FILE_SECTION = 5  # file formats
DEFAULTS_PAGE = "clearview-ipmp"
# Lines of a module docstring indented this much are its examples (the EXAMPLES section).
EXAMPLE_INDENT = "    "

STATE = "/var/lib/clearview-ipmp"
DEFAULTS = "/etc/default/clearview-ipmp"
EXIT_ONE = "0 on success; 1 when the command failed (one line on standard error says why)."

# page -> what DESCRIPTION says after the command's help: the command in context.
ABOUT = {
    "ipmpd": "ipmpd is the IPMP daemon of one network namespace, Solaris' in.mpathd: it "
             "keeps the groups configured with ipmpadm(8) or the ocf:clearview agents, "
             "detects failed members by link state and ICMP probes within the failure "
             "detection time, moves data addresses to working members and announces "
             "them. ipmpadm and the agents start it when it is not running; it logs to "
             "standard error unless told otherwise.",
    "ipmpadm": "Solaris 11's ipadm(8) and if_mpadm(8) for IPMP groups. Every change goes "
               "to the daemon of the current network namespace, ipmpd(8), which is "
               "started when it is not running, and is kept across its restarts. Changes "
               "need root; show-addr, show-if and show-config do not.",
    "ipmpstat": "Solaris' ipmpstat(8): the state of the groups, their members, data "
                "addresses, probe targets and probes, as the daemon of the current "
                "network namespace sees them, in Solaris' columns. Any user may run it.",
}
# page -> section -> text: what the declarations do not say.
EXTRAS: dict[str, dict[str, str]] = {
    "ipmpd": {
        "Files": f"{DEFAULTS}: the tunables (clearview-ipmp(5)), read at start and on "
                 f"SIGHUP.\n\n{STATE}: the configuration of each network namespace's "
                 "daemon, restored when it starts again.",
        "Signals": "SIGHUP: read the defaults file again (ipmpadm refresh). SIGUSR1: write "
                   "groups, targets and probe statistics to the log (ipmpadm dump). "
                   "SIGTERM: stop; the network stays as configured.",
    },
    "ipmpadm": {
        "Exit status": "0 on success; 1 when the command failed (one line on standard "
                       "error says why); 2 for a usage error.",
        "Files": f"{DEFAULTS}: the defaults that groups without their own values follow "
                 "(clearview-ipmp(5)).",
    },
    "ipmpstat": {"Exit status": EXIT_ONE},
    "ipmp-ocf": {
        "Exit status": "For AGENT ACTION, the OCF exit code of the action (0 success, "
                       "7 not running, 190 degraded, ...); otherwise " + EXIT_ONE,
        "Environment": "OCF_RESKEY_NAME: parameter NAME, when no NAME=VALUE argument gives "
                       "it. OCF_ROOT: where install puts the agents (default /usr/lib/ocf).",
    },
}
SEE_ALSO = {
    "ipmpd": ["ipmpadm(8)", "ipmpstat(8)", "clearview-ipmp(5)"],
    "ipmpadm": ["ipmpd(8)", "ipmpstat(8)", "clearview-ipmp(5)"],
    "ipmpstat": ["ipmpadm(8)", "ipmpd(8)"],
    "ipmp-ocf": ["ocf_clearview_ipmp(7)", "ocf_clearview_ipmp-address(7)", "ipmpd(8)",
                 "pcs(8)"],
    DEFAULTS_PAGE: ["ipmpd(8)", "ipmpadm(8)"],
}


def command_page(name: str, command: click.Command,
                 extra: tuple[tuple[str, str], ...] = ()) -> str:
    """The page of one command; ``extra`` are (title, prose) sections after the options
    and subcommands (the agents of ipmp-ocf, the fields of ipmpstat)."""
    ctx = click.Context(command, info_name=name, **command.context_settings)
    page = Page(name, ADMIN_SECTION, SOURCE, MANUAL)
    help_text = inspect.cleandoc(command.help or "")
    page.section("Name")
    page.raw(f"{literal(name)} \\- {escape(summary(help_text))}")
    page.section("Synopsis")
    page.raw(f".B {literal(name)}")
    page.raw(literal(" ".join(command.collect_usage_pieces(ctx))))
    page.section("Description")
    page.para(help_text)
    page.para(ABOUT.get(name, ""))
    _options(page, command, ctx)
    if isinstance(command, click.Group):
        page.section("Commands")
        for sub_name, sub in command.commands.items():
            if not sub.hidden:
                _subcommand(page, name, sub_name, sub, ctx)
    for title, text in extra:
        page.section(title)
        page.para(text)
    for title, text in EXTRAS.get(name, {}).items():
        page.section(title)
        page.para(text)
    examples = _examples(command)
    if examples:
        page.section("Examples")
        page.example(examples)
    page.see_also(SEE_ALSO[name])
    return page.text()


def _records(command: click.Command, ctx: click.Context) -> list[tuple[str, str]]:
    """The options' (tag, text) as --help prints them; arguments are in the synopsis."""
    return [r for p in command.get_params(ctx)
            if isinstance(p, click.Option) and (r := p.get_help_record(ctx))]


def summary(help_text: str) -> str:
    """The NAME line's description: the help's first line, lower case as man pages begin
    it (unless it begins with an acronym such as IPMP), without the full stop."""
    first = help_text.split("\n")[0].rstrip(".")
    return first[:1].lower() + first[1:] if first[1:2].islower() else first


def _options(page: Page, command: click.Command, ctx: click.Context) -> None:
    records = _records(command, ctx)
    if records:
        page.section("Options")
        for tag, text in records:
            page.tagged(tag, text)


def _subcommand(page: Page, prog: str, name: str, sub: click.Command,
                parent: click.Context) -> None:
    ctx = click.Context(sub, info_name=name, parent=parent, **sub.context_settings)
    page.tagged(" ".join([prog, name, *_usage(sub, ctx)]), inspect.cleandoc(sub.help or ""))
    help_tag = ", ".join(ctx.help_option_names)  # every subcommand has it: said once
    records = [r for r in _records(sub, ctx) if r[0] != help_tag]
    if records:
        page.raw(".RS")
        for tag, text in records:
            page.tagged(tag, text, bold=False)
        page.raw(".RE")


def _usage(command: click.Command, ctx: click.Context) -> list[str]:
    """The subcommand's options and arguments as a synopsis: [-i IF]... GROUP."""
    words = []
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            word = param.opts[0]
            if not (param.is_flag or param.count):
                word += " " + param.make_metavar(ctx)
            word = word if param.required else f"[{word}]"
            words.append(word + ("..." if param.multiple else ""))
        elif isinstance(param, click.Argument):
            words.append(param.make_metavar(ctx))
    return words


def _examples(command: click.Command) -> list[str]:
    """The indented lines of the docstring of the module that declares ``command``."""
    module = inspect.getmodule(command.callback)
    lines = inspect.cleandoc(module.__doc__ or "").split("\n") if module else []
    return [line.strip() for line in lines if line.startswith(EXAMPLE_INDENT)]


def defaults_page(keys: Iterable[Key]) -> str:
    """clearview-ipmp(5): the defaults file, every key with its default and meaning."""
    page = Page(DEFAULTS_PAGE, FILE_SECTION, SOURCE, MANUAL)
    page.section("Name")
    page.raw(f"{literal(DEFAULTS_PAGE)} \\- defaults of ipmpd, the IPMP daemon")
    page.section("Synopsis")
    page.raw(f".B {literal(DEFAULTS)}")
    page.section("Description")
    page.para("The tunables of ipmpd(8), in the spirit of Solaris' /etc/default/mpathd. "
              "Shell assignments, one per line, as a Debian /etc/default file is written: "
              "KEY=VALUE, quotes allowed, no spaces around '=', '#' starts a comment. Keys "
              "ignore case. ipmpd reads the file when it starts and again on SIGHUP "
              "(ipmpadm refresh); unknown keys and bad values are logged and ignored, so "
              "that a typo never stops failure detection. A key that is not set has its "
              "default.")
    page.section("Keys")
    for key in keys:
        page.tagged(f"{key.name}={key.default}", f"{key.meaning}\n\nDefault: {key.default}.")
    page.section("Example")
    page.example(["FAILURE_DETECTION_TIME=5000", "FAILBACK=no"])
    page.see_also(SEE_ALSO[DEFAULTS_PAGE])
    return page.text()
