"""ipmpstat: display IPMP status the way Solaris' ipmpstat(8) does.

All formatting lives in ipmp_core.ipmpstat_format; this module only reads the command
line, asks the daemon (a snapshot, or the event stream for -p), reads /etc/hosts for names,
and turns
every failure into one ``ipmpstat: ...`` line on stderr with exit status 1 (usage errors
included, as illumos ipmpstat's usage() and die() exit 1), never a traceback.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import click

from ipmp_core import __version__, ipmpstat_fields
from ipmp_core import ipmpstat_format as fmt
from ipmp_core.control_client import ControlClient, ControlError, DaemonUnreachable
from ipmp_core.model import ProbeState, Snapshot

PROG = "ipmpstat"
HOSTS_FILE = "/etc/hosts"
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 1  # illumos ipmpstat: usage() and die() both exit(EXIT_FAILURE)
# ofmt_update_winsize()'s window when stdout is no terminal: the header comes back every
# 24 lines, so a long listing piped to a pager or a file still says what each column is.
OFMT_DEFAULT_ROWS = 24
# The clock -p measures TIME against: the daemon stamps probes with CLOCK_MONOTONIC, which
# every process on the host shares (tests replace it to get fixed times).
_clock_ns = time.monotonic_ns


class _Failure(Exception):
    """Ends the command with one message line and an exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _complain(message: str) -> None:
    """Print one ``ipmpstat: message`` line; multi-line messages are folded to one."""
    text = " ".join(message.split())
    click.echo(f"{PROG}: {text}", err=True)


class _IpmpstatCommand(click.Command):
    """A click command whose errors look like ipmpstat's, not like click's.

    click's standalone mode prints usage blocks and "Error:" lines; ipmpstat prints one
    line. Running click non-standalone and mapping its exceptions here keeps the exit codes
    right both for the console script and for click's test runner.
    """

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> int:
        code = self._run(args, prog_name or PROG, complete_var, **extra)
        if standalone_mode:
            sys.exit(code)
        return code

    def _run(
        self, args: Sequence[str] | None, prog_name: str, complete_var: str | None, **extra: Any
    ) -> int:
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _Failure as exc:
            _complain(exc.message)
            return exc.code
        except click.UsageError as exc:
            _complain(f"{exc.format_message().rstrip('.')} (usage: {ipmpstat_fields.SYNOPSIS})")
            return EXIT_USAGE
        except click.ClickException as exc:
            _complain(exc.format_message())
            return exc.exit_code
        except click.Abort:
            return EXIT_FAILURE  # ^C outside -p: click already ended the line
        except BrokenPipeError:
            _silence_stdout()
            return EXIT_FAILURE
        return result if isinstance(result, int) else EXIT_OK


def _silence_stdout() -> None:
    """After the reader of a pipe went away, keep Python's final flush from complaining."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _resolver(numeric: bool) -> fmt.Resolver:
    """Names from /etc/hosts unless -n; never DNS, which can hang when the network is down."""
    if numeric:
        return fmt.numeric
    try:
        with open(HOSTS_FILE, encoding="utf-8", errors="replace") as hosts:
            return fmt.hosts_resolver(fmt.parse_hosts(hosts.read()))
    except OSError:
        return fmt.numeric


def _modes(counts: dict[str, int]) -> list[str]:
    """Every mode letter as often as it was given, so ``-g -g`` is refused like Solaris."""
    return [letter for letter, count in counts.items() for _ in range(count)]


def _daemon_error(exc: ControlError, doing: str) -> _Failure:
    """One clear line for a daemon failure; unreachable already says what is wrong."""
    if isinstance(exc, DaemonUnreachable):
        return _Failure(exc.message)
    return _Failure(f"cannot {doing}: {exc.message}")


def _take_snapshot() -> Snapshot:
    """One consistent snapshot from the daemon, or one clear failure line."""
    try:
        data = ControlClient().snapshot()
    except ControlError as exc:
        raise _daemon_error(exc, "snapshot IPMP state") from None
    try:
        snapshot = Snapshot.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise _Failure(f"cannot snapshot IPMP state: malformed reply ({exc})") from None
    return snapshot


def _print_snapshot(spec: ipmpstat_fields.OutputSpec, resolve: fmt.Resolver) -> None:
    """Ask the daemon for one consistent snapshot and print the chosen mode of it."""
    snapshot = _take_snapshot()
    if snapshot.state_error:  # on stderr: parsable output on stdout stays parsable
        _complain(f"warning: {snapshot.state_error}")
    every = _header_every() if spec.style is ipmpstat_fields.Style.HUMAN else None
    click.echo(fmt.render_snapshot(spec, snapshot, resolve, every), nl=False)


def _require_probing() -> None:
    """Refuse -p when no interface probes, as illumos' probe_output() does before it
    subscribes (probe_enabled_cbfunc() over every interface): rows would never come."""
    if all(i.probe is ProbeState.DISABLED for i in _take_snapshot().interfaces):
        raise _Failure("probe-based failure detection is disabled")


def _header_every() -> int:
    """Lines per page for repeating the header, as ofmt_print() does in every mode.

    ofmt reads the window's rows from stdout (TIOCGWINSZ) and falls back to 24 when
    stdout is not a terminal, so a pipe or a file gets the header every 24 lines too.
    """
    rows = shutil.get_terminal_size((0, 0)).lines if sys.stdout.isatty() else 0
    return rows if rows > 0 else OFMT_DEFAULT_ROWS


def _probe_lines(
    spec: ipmpstat_fields.OutputSpec, events: Iterable[dict[str, Any]], start_ns: int,
    resolve: fmt.Resolver,
) -> Iterator[str]:
    """The -p output lines for a stream of events, header included for people: with the
    first row, not before it, and again every screenful, as ofmt_print() does."""
    every = _header_every() if spec.style is ipmpstat_fields.Style.HUMAN else None
    header = fmt.format_header(spec.fields)
    printed = 0
    for event in events:
        warning = fmt.probe_event_warning(event)
        if warning is not None:
            _complain(f"warning: {warning}")
            continue
        if not fmt.is_reported_probe(event):
            continue
        if every is not None and printed % every == 0:
            yield header
            printed += 1
        yield fmt.format_row(spec, fmt.probe_row(event, start_ns, resolve))
        printed += 1


def _follow_probes(spec: ipmpstat_fields.OutputSpec, resolve: fmt.Resolver) -> None:
    """Print probes as the daemon reports them until ^C.

    The daemon is pinged first so that a missing daemon is one error line, not a header
    followed by one. With nothing probing yet there are simply no rows until there are.
    """
    client = ControlClient()
    try:
        if not client.ping():
            raise _Failure("the IPMP daemon is not running")
    except ControlError as exc:  # an impostor answering: refused, said in one line
        raise _daemon_error(exc, "follow IPMP probes") from None
    start_ns = _clock_ns()
    try:
        for line in _probe_lines(spec, client.subscribe(), start_ns, resolve):
            click.echo(line)
    except KeyboardInterrupt:
        return
    except ControlError as exc:
        raise _daemon_error(exc, "follow IPMP probes") from None


@click.command(
    cls=_IpmpstatCommand,
    name=PROG,
    options_metavar=ipmpstat_fields.SYNOPSIS.removeprefix(f"{PROG} "),
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name=PROG)
@click.option("-n", "numeric", is_flag=True, help="Display IP addresses numerically.")
@click.option("-o", "fields", metavar="FIELD[,...]", help="Only these fields, in order; 'all'.")
@click.option("-P", "parsable", is_flag=True, help="Machine-parsable output (needs -o).")
@click.option("-j", "as_json", is_flag=True, help="JSON output.")
@click.option("-a", "addresses", count=True, help="Display IPMP data address information.")
@click.option("-g", "groups", count=True, help="Display IPMP group information.")
@click.option("-i", "interfaces", count=True, help="Display IPMP interface information.")
@click.option("-p", "probes", count=True, help="Display IPMP probes as they complete (^C ends).")
@click.option("-t", "targets", count=True, help="Display IPMP probe target information.")
def ipmpstat(
    numeric: bool,
    fields: str | None,
    parsable: bool,
    as_json: bool,
    addresses: int,
    groups: int,
    interfaces: int,
    probes: int,
    targets: int,
) -> int:
    """Display IPMP subsystem status (exactly one of -a, -g, -i, -p, -t)."""
    counts = {"a": addresses, "g": groups, "i": interfaces, "p": probes, "t": targets}
    try:
        spec = ipmpstat_fields.make_spec(_modes(counts), fields, parsable, as_json)
    except ipmpstat_fields.StatUsageError as exc:
        raise _Failure(str(exc), EXIT_USAGE) from None
    if spec.unknown:  # people get the other fields; scripts (-P, -j) were refused above
        _complain("warning: " + ipmpstat_fields.unknown_fields_message(spec.unknown, spec.style))
    resolve = _resolver(numeric)
    if spec.mode is ipmpstat_fields.Mode.PROBES:
        _require_probing()
        _follow_probes(spec, resolve)
    else:
        _print_snapshot(spec, resolve)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point: run ipmpstat and return its exit code."""
    return ipmpstat.main(args=argv, prog_name=PROG, standalone_mode=False)


if __name__ == "__main__":
    sys.exit(main())
