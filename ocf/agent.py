"""Declare an OCF resource agent once; dispatch, parsing and meta-data follow from it.

``Agent`` owns the declarations and ``run_action`` the dispatch (no stdout, stderr or
``sys.exit``, so a tool or a test drives it in-process). What dispatch guarantees, and
why this module stays standard library: docs/design.md, "The OCF library".
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping

from ocf.codes import OCFCode, OCFError, as_code, describe
from ocf.log import ERROR, INFO, Log
from ocf.params import (
    Parameter,
    Value,
    check_choice,
    check_seconds,
    parse_params,
    unknown_params,
)

# typing costs milliseconds on every monitor; annotations are strings anyway.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn, TextIO, TypeVar

    Handler = Callable[["Context"], "OCFCode | int"]
    H = TypeVar("H", bound=Handler)

META_DATA = "meta-data"
VALIDATE_ALL = "validate-all"
USAGE_ACTIONS = ("usage", "help", "-h", "--help")
DEFAULT_TIMEOUT = 20
# Pacemaker's usual recurring monitor: often enough to see a failure within seconds,
# rarely enough to cost nothing on an idle node.
DEFAULT_MONITOR_INTERVAL = 10
METADATA_PROFILES = ("compat", "ocf-1.1")
REASON_PREFIX = "ocf-exit-reason:"
CHECK_LEVELS = (0, 10, 20)

#: Codes after which an exit reason is news, not a failure report.
_NOT_FAILURES = frozenset({
    OCFCode.SUCCESS, OCFCode.NOT_RUNNING, OCFCode.RUNNING_PROMOTED,
    OCFCode.DEGRADED, OCFCode.DEGRADED_PROMOTED,
})


class ActionSpec:
    """One ``<action>`` of the meta-data: timeouts etc. are hints pcs copies into the CIB.

    ``timeout`` and ``interval`` are in seconds. An action may be listed more than once
    (a monitor per depth or role), all listings sharing one handler.
    """

    __slots__ = ("name", "handler", "timeout", "interval", "depth", "role")

    def __init__(self, name: str, handler: Handler | None, timeout: int = DEFAULT_TIMEOUT,
                 interval: int | None = None, depth: int | None = None,
                 role: str | None = None) -> None:
        check_seconds(f"action {name!r}: timeout", timeout, 1)
        if interval is not None:
            check_seconds(f"action {name!r}: interval", interval, 0)
        self.name = name
        self.handler = handler
        self.timeout = timeout
        self.interval = interval
        self.depth = depth
        self.role = role

    def __repr__(self) -> str:
        return f"ActionSpec({self.name!r}, timeout={self.timeout})"


class Result:
    """The outcome of one action: exit code, exit reason and what goes to stdout/stderr.

    ``stdout`` is meta-data or usage; ``stderr`` is usage after a wrong action. Log
    messages are not part of it: they went to the log's sinks already.
    """

    __slots__ = ("code", "reason", "stdout", "stderr")

    def __init__(self, code: OCFCode | int, reason: str | None = None,
                 stdout: str = "", stderr: str = "") -> None:
        self.code = as_code(code)
        self.reason = one_line(reason or "") or None
        self.stdout = stdout
        self.stderr = stderr

    @property
    def name(self) -> str:
        """``OCF_NOT_RUNNING (7)``: the code by name and number, for people."""
        return describe(self.code)

    def __repr__(self) -> str:
        return f"Result({self.name}, reason={self.reason!r})"


class Context:
    """What a handler knows about this invocation, read from the OCF environment."""

    __slots__ = ("agent", "action", "environ", "log", "params", "reason")

    def __init__(self, agent: Agent, action: str, environ: Mapping[str, str], log: Log) -> None:
        self.agent = agent
        self.action = action
        self.environ = environ
        self.log = log
        #: Typed parameter values by name; unset optional ones hold their default or None.
        self.params: dict[str, Value | None] = {}
        self.reason: str | None = None

    def meta(self, name: str, default: str | None = None) -> str | None:
        """Meta attribute ``name`` (OCF_RESKEY_CRM_meta_<name>; dashes as underscores)."""
        value = self.environ.get("OCF_RESKEY_CRM_meta_" + name.replace("-", "_"))
        return default if value is None else value

    @property
    def instance(self) -> str | None:
        """OCF_RESOURCE_INSTANCE: the resource id (``rsc:N`` for clone instances)."""
        return self.environ.get("OCF_RESOURCE_INSTANCE") or None

    @property
    def interval_ms(self) -> int:
        """The operation's interval in milliseconds; 0 when unset (a one-off)."""
        return _int(self.meta("interval")) or 0

    @property
    def timeout_ms(self) -> int | None:
        """The operation's timeout in milliseconds, when Pacemaker passed one."""
        return _int(self.meta("timeout"))

    @property
    def is_probe(self) -> bool:
        """A monitor with interval 0 or none: Pacemaker asking "is it running here?".

        A probe must answer OCF_NOT_RUNNING where the resource is not running, even
        when its software or interfaces are missing on this node.
        """
        return self.action == "monitor" and self.interval_ms == 0

    @property
    def check_level(self) -> int:
        """OCF_CHECK_LEVEL as 0, 10 or 20; other numbers map to the next lower level.

        Pacemaker passes the op's depth unprefixed; older versions passed it as
        OCF_RESKEY_OCF_CHECK_LEVEL, which ocf-shellfuncs still reads, so both count.
        """
        raw = self.environ.get("OCF_CHECK_LEVEL") or self.environ.get(
            "OCF_RESKEY_OCF_CHECK_LEVEL")
        requested = _int(raw) or 0
        return max((level for level in CHECK_LEVELS if level <= requested), default=0)

    def exit_reason(self, text: str) -> None:
        """Set the exit reason for the code the handler is about to return (last wins)."""
        self.reason = text


class Agent:
    """An OCF resource agent's declarations and its dispatcher.

    ``version`` is the agent's own version; the OCF API version in the meta-data is
    1.1. ``provider`` (e.g. "clearview") only feeds the generated documentation.
    ``validate(ctx)`` is the agent-level check run by ``validate-all`` after the
    parameters parsed; like a validator it should judge the configuration, and look at
    the host only when ``ctx.check_level`` >= 10. ``metadata_profile`` picks the
    meta-data dialect (see ocf.metadata): "compat" validates against both the OCF 1.1
    RNG and ocf-tester's ra-api-1.dtd; "ocf-1.1" adds unique-group, reloadable,
    select options and reload-agent, and passes the RNG only.
    """

    def __init__(self, name: str, version: str, shortdesc: str, longdesc: str, *,
                 provider: str | None = None,
                 validate: Handler | None = None,
                 metadata_profile: str = "compat",
                 light_actions: tuple[str, ...] = ()) -> None:
        check_choice("metadata_profile", metadata_profile, METADATA_PROFILES)
        self.name = name
        self.version = version
        self.shortdesc = shortdesc
        self.longdesc = longdesc
        self.provider = provider
        self.validate = validate
        self.metadata_profile = metadata_profile
        # Actions that parse parameters (presence, types) but skip the validators: a
        # monitor judges the resource, not its configuration, which start and
        # validate-all already judged; validators may import costly modules.
        self.light_actions = light_actions
        self.parameters: dict[str, Parameter] = {}
        self._declared: list[ActionSpec] = []
        self._handlers: dict[str, Handler] = {}
        self._builtin = {
            META_DATA: ActionSpec(META_DATA, None, timeout=5),
            VALIDATE_ALL: ActionSpec(VALIDATE_ALL, None, timeout=DEFAULT_TIMEOUT),
        }

    # ------------------------------------------------------------------ declaring

    def add_parameter(self, param: Parameter) -> Agent:
        """Declare a parameter (order is kept: meta-data, docs and checks follow it)."""
        if param.name in self.parameters:
            raise ValueError(f"parameter {param.name!r} declared twice")
        self.parameters[param.name] = param
        return self

    def add_action(self, name: str, handler: Handler | None = None, *,
                   timeout: int = DEFAULT_TIMEOUT, interval: int | None = None,
                   depth: int | None = None, role: str | None = None) -> Agent:
        """Declare action ``name`` handled by ``handler(ctx) -> OCFCode | int``.

        Declaring a name again without a handler (or with the same one) adds another
        meta-data listing, e.g. a second monitor with depth 10. For the built-in
        actions ``meta-data`` and ``validate-all`` a call without a handler only sets
        the listed timeout; a ``validate-all`` handler replaces the ``validate`` hook
        and still runs after parameter parsing. ``meta-data`` is always generated.
        A handler must return a code: None (falling off the end) is OCF_ERR_GENERIC,
        so a monitor that forgets to return can never report "running".
        """
        spec = ActionSpec(name, handler, timeout, interval, depth, role)
        if name in self._builtin:
            if name == META_DATA and handler is not None:
                raise ValueError("meta-data is generated from the declarations")
            if handler is not None:
                self._handlers[name] = handler
            self._builtin[name] = spec
            return self
        known = self._handlers.get(name)
        if handler is None and known is None:
            raise ValueError(f"action {name!r} needs a handler")
        if handler is not None and known is not None and handler is not known:
            raise ValueError(f"action {name!r} already has another handler")
        self._handlers[name] = handler or known  # type: ignore[assignment]
        self._declared.append(spec)
        return self

    def add_resource_actions(self, *, start: Handler, stop: Handler, monitor: Handler,
                             reload: Handler, validate: Handler, timeout: int,
                             reloads: tuple[str, ...] = ("reload-agent",),
                             monitor_interval: int = DEFAULT_MONITOR_INTERVAL) -> Agent:
        """Declare the actions a resource agent lists, in this order: start and stop
        (``timeout`` each), the monitor (every ``monitor_interval`` s), ``reload`` under
        each name in ``reloads``, then validate-all; meta-data is built in. The other
        timeouts are the defaults, so agents differ only where they need to."""
        self.add_action("start", start, timeout=timeout)
        self.add_action("stop", stop, timeout=timeout)
        self.add_action("monitor", monitor, timeout=DEFAULT_TIMEOUT, interval=monitor_interval)
        for name in reloads:
            self.add_action(name, reload, timeout=timeout)
        return self.add_action(VALIDATE_ALL, validate, timeout=DEFAULT_TIMEOUT)

    def action(self, name: str, *, timeout: int = DEFAULT_TIMEOUT,
               interval: int | None = None, depth: int | None = None,
               role: str | None = None) -> Callable[[H], H]:
        """Decorator form of ``add_action``: ``@agent.action("start", timeout=30)``."""
        def register(handler: H) -> H:
            self.add_action(name, handler, timeout=timeout, interval=interval,
                            depth=depth, role=role)
            return handler
        return register

    @property
    def actions(self) -> list[ActionSpec]:
        """Every meta-data listing: the declared ones in order, then the built-ins."""
        return [*self._declared, *self._builtin.values()]

    def action_names(self) -> list[str]:
        """Each dispatchable action once, in listing order."""
        return list(dict.fromkeys(spec.name for spec in self.actions))

    def usage(self, prog: str | None = None) -> str:
        """The usage text: what ``usage`` prints and what a wrong action gets."""
        names = "|".join([*self.action_names(), "usage"])
        return (f"usage: {prog or self.name} {{{names}}}\n\n"
                f"{self.shortdesc}\n"
                "Every action but meta-data and usage expects the OCF environment "
                "(OCF_RESKEY_<parameter>, OCF_RESOURCE_INSTANCE, ...).\n")

    # ------------------------------------------------------------------ running

    def run_action(self, action: str | None, environ: Mapping[str, str] | None = None, *,
                   prog: str | None = None, log_stream: TextIO | None = None) -> Result:
        """Run ``action`` in-process and return its Result; never raises, never exits.

        ``environ`` defaults to os.environ. ``log_stream`` receives log lines meant for
        stderr (default sys.stderr).
        """
        env = os.environ if environ is None else environ
        if not action:
            return Result(OCFCode.ERR_UNIMPLEMENTED, "no action given",
                          stderr=self.usage(prog))
        if action in USAGE_ACTIONS:
            return Result(OCFCode.SUCCESS, stdout=self.usage(prog))
        if action == META_DATA:
            return self._meta_data()
        handler = self._handler_for(action)
        if handler is None:
            return Result(OCFCode.ERR_UNIMPLEMENTED, f"action '{action}' is not implemented",
                          stderr=self.usage(prog))
        log = Log.for_agent(self.name, env.get("OCF_RESOURCE_INSTANCE"), env, log_stream)
        ctx = Context(self, action, env, log)
        result = _call(ctx, handler)
        if result.reason:  # on stderr already as the exit reason line
            level = INFO if result.code in _NOT_FAILURES else ERROR
            log.log(level, result.reason, to_stream=False)
        log.debug(f"{action} returned {result.name}")
        return result

    def run(self, argv: list[str] | None = None,
            environ: Mapping[str, str] | None = None) -> int:
        """Dispatch ``argv[1]`` (later arguments are ignored), write output and the exit
        reason, and return the exit code; the executable does ``sys.exit(agent.run())``.
        """
        argv = sys.argv if argv is None else argv
        env = os.environ if environ is None else environ
        prog = os.path.basename(argv[0]) if argv else None
        result = self.run_action(argv[1] if len(argv) > 1 else None, env, prog=prog)
        if result.stdout:
            sys.stdout.write(result.stdout)
            sys.stdout.flush()
        if result.stderr:
            sys.stderr.write(result.stderr)
        if result.reason:
            prefix = env.get("OCF_EXIT_REASON_PREFIX") or REASON_PREFIX
            sys.stderr.write(f"{prefix}{result.reason}\n")
        sys.stderr.flush()
        return int(result.code)

    def main(self) -> NoReturn:
        """``run()`` with sys.argv and os.environ, then exit with its code."""
        sys.exit(self.run())

    def _handler_for(self, action: str) -> Handler | None:
        if action == VALIDATE_ALL:
            return self._validate_all
        return self._handlers.get(action)

    def _validate_all(self, ctx: Context) -> OCFCode | int:
        """Parameters already parsed; warn about unknown ones, then the agent's hook."""
        for name in unknown_params(self.parameters.values(), ctx.environ):
            ctx.log.warning(f"ignoring unknown parameter '{name}'")
        hook = self._handlers.get(VALIDATE_ALL) or self.validate
        return OCFCode.SUCCESS if hook is None else hook(ctx)

    def _meta_data(self) -> Result:
        try:
            from ocf import metadata  # lxml is loaded only here

            return Result(OCFCode.SUCCESS, stdout=metadata.to_xml(self))
        except Exception as err:  # an agent must still exit with a code and a reason
            return Result(OCFCode.ERR_GENERIC, f"meta-data failed: {_brief(err)}")


def _call(ctx: Context, handler: Handler) -> Result:
    """Parse parameters, run the handler, and turn whatever happens into a Result."""
    try:
        ctx.params = parse_params(ctx.agent.parameters.values(), ctx.environ,
                                  validate=ctx.action not in ctx.agent.light_actions)
        returned = handler(ctx)
    except OCFError as err:
        return Result(err.code, err.reason)
    except Exception as err:
        import traceback

        ctx.log.debug(traceback.format_exc())
        return Result(OCFCode.ERR_GENERIC, f"{ctx.action} failed: {_brief(err)}")
    if isinstance(returned, bool) or not isinstance(returned, int) or not 0 <= returned <= 255:
        return Result(OCFCode.ERR_GENERIC,
                      f"{ctx.action} handler returned {returned!r}, not an exit code")
    return Result(returned, ctx.reason)


def _brief(err: BaseException) -> str:
    text = str(err)
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


def one_line(text: str) -> str:
    """An exit reason must be one line: Pacemaker reads only up to the newline."""
    return " ".join(text.split())
