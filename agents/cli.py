"""ipmp-ocf: run any action of the clearview agents outside Pacemaker, and install them.

    ipmp-ocf ipmp monitor group=ipmp0 interfaces="e0 e1"
    ipmp-ocf --trace ipmp-address start ip=198.51.100.50 group=ipmp0
    ipmp-ocf install [--ocf-root /usr/lib/ocf]
    ipmp-ocf list

Parameters come from key=value arguments, else from OCF_RESKEY_* in the environment, as
Pacemaker passes them. The exit status is the OCF code, so `ipmp-ocf ipmp monitor ...`
can be used in scripts the way `pcs resource debug-monitor` is.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any

import click

from ipmp_core import __version__
from ocf import Agent, describe

PROVIDER = "clearview"
DEFAULT_OCF_ROOT = "/usr/lib/ocf"


def agents() -> dict[str, Agent]:
    from agents import ipmp, ipmp_address

    return {ipmp.agent.name: ipmp.agent, ipmp_address.agent.name: ipmp_address.agent}


def _module_of(name: str) -> str:
    return {"ipmp": "agents.ipmp", "ipmp-address": "agents.ipmp_address"}[name]


def package_dir() -> str:
    """The directory holding the agents, ocf and ipmp_core packages."""
    return str(Path(__file__).resolve().parent.parent)


def search_path() -> list[str]:
    """Where the agents and their dependencies live: this package's directory, then the
    interpreter's site-packages (lxml for meta-data), without duplicates."""
    import sysconfig

    found = [package_dir()]
    for key in ("purelib", "platlib"):
        path = sysconfig.get_paths()[key]
        if path not in found:
            found.append(path)
    return found


def script(name: str, interpreter: str, paths: list[str] | None = None) -> str:
    """The installed agent: an absolute interpreter every user can run (meta-data runs as
    hacluster, ocf-tester runs it as nobody), isolated from the caller's environment
    (-I) and without the site module (-S): site and its .pth hooks cost 20-30 ms on every
    monitor, so the script names the directories it needs instead.

    The meta-data is rendered here, at install time, and answered by the script itself
    before anything is imported: Pacemaker 2.1 fetches it before every start (it sits on
    the failover path), and importing the agent and lxml to render it again costs 50-70 ms
    where printing a string costs nothing. ``tests/unit/agents/test_agent_script.py`` checks the
    embedded text is the generated one."""
    return (
        f"#!{interpreter} -IS\n"
        f"# ocf:{PROVIDER}:{name}, installed by ipmp-ocf. Do not edit: reinstall instead.\n"
        "import sys\n"
        f"{META_DATA_VAR} = {rendered_metadata(name)!r}\n"
        "if sys.argv[1:2] == ['meta-data']:\n"
        f"    sys.stdout.write({META_DATA_VAR})\n"
        "    raise SystemExit(0)\n"
        f"sys.path[:0] = {paths or search_path()!r}\n"
        f"from {_module_of(name)} import agent\n"
        "raise SystemExit(agent.run())\n"
    )


META_DATA_VAR = "META_DATA"  # the name of the embedded meta-data in the installed script


def rendered_metadata(name: str) -> str:
    """The agent's meta-data XML, exactly as ``AGENT meta-data`` prints it."""
    from ocf import metadata

    return metadata.to_xml(agents()[name])


def install(ocf_root: str, interpreter: str | None = None) -> list[Path]:
    directory = Path(ocf_root) / "resource.d" / PROVIDER
    directory.mkdir(parents=True, exist_ok=True)
    interpreter = interpreter or sys.executable
    written = []
    for name in agents():
        path = directory / name
        tmp = path.with_suffix(".tmp")
        tmp.write_text(script(name, interpreter))
        tmp.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
        tmp.replace(path)
        written.append(path)
    return written


class AgentGroup(click.Group):
    """`ipmp-ocf AGENT ACTION ...` besides the install and list subcommands."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        if args and args[0] in agents():
            return "run", run_action, args
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """--help lists the agents and their actions after the subcommands, from the
        agents' declarations (the meta-data's)."""
        super().format_commands(ctx, formatter)
        with formatter.section("Agents (ipmp-ocf AGENT ACTION)"):
            formatter.write_dl(agent_rows())


def agent_rows() -> list[tuple[str, str]]:
    """(name, "shortdesc; actions: ...") of each agent, for --help and the man page."""
    return [(name, f"ocf:{PROVIDER}:{name}: {agent.shortdesc}. Actions: "
             + " ".join(agent.action_names()))
            for name, agent in agents().items()]


@click.group(cls=AgentGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ipmp-ocf")
@click.option("--trace", is_flag=True, help="Show what the agent did (HA_debug=1).")
@click.pass_context
def cli(ctx: click.Context, trace: bool) -> None:
    """Run the clearview OCF agents outside Pacemaker: ipmp-ocf AGENT ACTION [key=value...]

    Parameters are key=value arguments, else OCF_RESKEY_* variables; the exit status is
    the OCF code. The agents and their actions are listed below."""
    ctx.obj = {"trace": trace}


@cli.command("run", hidden=True, context_settings={"ignore_unknown_options": True})
@click.argument("agent_name")
@click.argument("action")
@click.argument("params", nargs=-1)
@click.pass_context
def run_action(ctx: click.Context, agent_name: str, action: str, params: tuple[str, ...]) -> None:
    agent = agents()[agent_name]
    environ = dict(os.environ)
    for item in params:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.UsageError(f"parameter '{item}' must be key=value")
        environ[f"OCF_RESKEY_{key}"] = value
    environ.setdefault("OCF_RESOURCE_INSTANCE", f"ipmp-ocf-{agent_name}")
    environ.setdefault("OCF_RESOURCE_TYPE", agent_name)
    environ.setdefault("OCF_RESOURCE_PROVIDER", PROVIDER)
    trace = (ctx.obj or {}).get("trace", False)
    if trace:
        environ["HA_debug"] = "1"
    result = agent.run_action(action, environ, prog=f"ipmp-ocf {agent_name}",
                              log_stream=sys.stderr if trace else None)
    if result.stdout:
        click.echo(result.stdout, nl=not result.stdout.endswith("\n"))
    line = f"{agent_name} {action}: {describe(result.code)}"
    if result.reason:
        line += f": {result.reason}"
    click.echo(line, err=True)
    ctx.exit(int(result.code))


@cli.command("install")
@click.option("--ocf-root", default=os.environ.get("OCF_ROOT", DEFAULT_OCF_ROOT),
              type=click.Path(file_okay=False),
              show_default=True, help="Install under OCF_ROOT/resource.d/clearview/.")
def install_cmd(ocf_root: str) -> None:
    """Install the agents as ocf:clearview:ipmp and ocf:clearview:ipmp-address."""
    try:
        for path in install(ocf_root):
            click.echo(f"installed {path}")
    except OSError as exc:
        raise click.ClickException(f"cannot install into {ocf_root}: {exc}") from None


def reference() -> str:
    """The agent reference, generated from the same declarations as the meta-data."""
    from ocf import metadata

    parts = [
        "# Agent reference",
        "",
        "Generated by `ipmp-ocf docs` from the agents' declarations (the same ones the "
        "meta-data comes from); `tests/unit/test_docs.py` fails when this file is stale.",
    ]
    for agent in agents().values():
        parts += ["", metadata.markdown(agent).strip()]
    return "\n".join(parts) + "\n"


@cli.command("docs")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write to this file instead of standard output.")
@click.option("--tree", type=click.Path(file_okay=False), default=None,
              help="Write every generated file (the agent reference, the manual pages, "
              "the bash completion) under this checkout (make docs).")
def docs_cmd(output: str | None, tree: str | None) -> None:
    """Print (or write) the agent reference in Markdown, or every generated file."""
    if tree:
        from agents.generated import generated

        for rel, text in generated(sys.modules[__name__]).items():
            path = Path(tree) / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return
    text = reference()
    if output:
        Path(output).write_text(text)
    else:
        click.echo(text, nl=False)


@cli.command("list")
def list_cmd() -> None:
    """List the agents and their actions."""
    for name, agent in agents().items():
        click.echo(f"ocf:{PROVIDER}:{name}  {agent.shortdesc}")
        click.echo(f"    actions: {' '.join(agent.action_names())}")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
