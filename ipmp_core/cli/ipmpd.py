"""ipmpd: start the node daemon in the current network namespace."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import NoReturn

import click

from ipmp_core import __version__
from ipmp_core.constants import CONTROL_SOCKET_NAME, DEFAULT_METRICS_DIR
from ipmp_core.daemon.control_server import StartError, require_root
from ipmp_core.daemon.logsinks import choose_handler
from ipmp_core.daemon.metrics_text import METRICS_DIR_ENV
from ipmp_core.defaults_file import DEFAULTS_FILE
from ipmp_core.persist import STATE_DIR_ENV, StateFile, netns_name, state_dir


def setup_logging(log_file: str | None, use_syslog: bool, debug: bool) -> logging.Handler:
    """in.mpathd logs to syslog: so do we when not on a terminal (the journal, with the
    group and interface as fields, where there is one); a file only when asked for."""
    handler = choose_handler(log_file, use_syslog)
    root = logging.getLogger("ipmpd")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    root.propagate = False
    # pyroute2 logs every DHCP packet at INFO: keep its warnings only, in our log.
    noisy = logging.getLogger("pyroute2")
    noisy.handlers[:] = [handler]
    noisy.setLevel(logging.DEBUG if debug else logging.WARNING)
    noisy.propagate = False
    return handler


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ipmpd")
@click.option("--state-dir", type=click.Path(file_okay=False), default=None,
              help=f"Where the configuration is kept (default ${STATE_DIR_ENV} or "
              f"{state_dir()}).")
@click.option("--defaults", "defaults_path", default=DEFAULTS_FILE, show_default=True,
              help="Tunables file, re-read on SIGHUP.")
@click.option("--log-file", type=click.Path(dir_okay=False), default=None,
              help="Log to this file instead of the system log (reopened when logrotate "
              "moves it).")
@click.option("--syslog", "use_syslog", is_flag=True,
              help="Log to the journal or syslog (LOG_DAEMON) even on a terminal; without "
              "a terminal that is the default.")
@click.option("--metrics-dir", type=click.Path(file_okay=False), default=None,
              help=f"Write the Prometheus textfile here (default ${METRICS_DIR_ENV}, the "
              f"defaults file's METRICS_DIR or {DEFAULT_METRICS_DIR}; '' for none).")
@click.option("--debug", is_flag=True, help="Log debug messages too.")
def cli(state_dir: str | None, defaults_path: str, log_file: str | None, use_syslog: bool,
        metrics_dir: str | None, debug: bool) -> None:
    """Run the IPMP daemon of this network namespace in the foreground."""
    try:
        require_root()
    except StartError as exc:
        click.echo(f"ipmpd: {exc}", err=True)
        sys.exit(1)
    handler = setup_logging(log_file, use_syslog, debug)
    from ipmp_core.daemon.service import Daemon  # pyroute2 is imported only by the daemon itself

    state = StateFile.for_this_netns(Path(state_dir) if state_dir else None)
    daemon = Daemon(state, defaults_path=defaults_path, control_address=CONTROL_SOCKET_NAME,
                    metrics_dir=metrics_dir)
    try:
        asyncio.run(daemon.run())
    except StartError as exc:
        _refuse(f"not starting in network namespace {netns_name()}: {exc}",
                also_log=type(handler) is not logging.StreamHandler)
    if daemon.exit_status:
        sys.exit(daemon.exit_status)


def _refuse(reason: str, also_log: bool) -> NoReturn:
    """One line on stderr (and in the log, where an operator of a started daemon looks)
    and a non-zero exit, so that a supervisor sees the start fail."""
    if also_log:
        logging.getLogger("ipmpd").error("%s", reason)
    click.echo(f"ipmpd: {reason}", err=True)
    sys.exit(1)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
