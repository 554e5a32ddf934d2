"""The ocf package's agent side: exit codes, typed parameters, context and dispatch.

The agent here is a made-up example, not an IPMP agent: the library must behave the
same for whatever the lead declares on top of it. Expected behaviour comes from the
OCF resource agent API 1.1 and from what resource-agents' shell agents and ocf.py do
(usage + OCF_ERR_UNIMPLEMENTED for a wrong action, the last ocf-exit-reason line wins).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ocf import Agent, Context, OCFCode, OCFError, Parameter, describe, parse_boolean
from ocf.agent import Result

PYTHON = sys.executable
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]

# --------------------------------------------------------------------------- the example


def _port(value: object) -> bool:
    return isinstance(value, int) and 0 < value < 65536


def _vlan(value: object) -> None:
    if not isinstance(value, int) or not 1 <= value <= 4094:
        raise ValueError("VLAN ids are 1 to 4094")


def example_agent(seen: list[Context] | None = None) -> Agent:
    """A small agent using every kind of declaration; handlers record their context."""
    calls = [] if seen is None else seen

    def start(ctx: Context) -> OCFCode:
        calls.append(ctx)
        return OCFCode.SUCCESS

    def stop(ctx: Context) -> OCFCode:
        calls.append(ctx)
        return OCFCode.SUCCESS

    def monitor(ctx: Context) -> OCFCode:
        calls.append(ctx)
        if ctx.params["mode"] == "standby":
            ctx.exit_reason("standby: nothing to serve")
            return OCFCode.NOT_RUNNING
        return OCFCode.DEGRADED if ctx.check_level >= 20 else OCFCode.SUCCESS

    def reload_agent(ctx: Context) -> OCFCode:
        calls.append(ctx)
        return OCFCode.SUCCESS

    agent = Agent(
        "example", "0.3", "Example service",
        """Manages an imaginary service.
        Declared by the tests of the ocf package.""",
        provider="test",
    )
    agent.add_parameter(Parameter("name", "string", "Service name",
                                  "Name the service registers under.",
                                  required=True, unique_group="name"))
    agent.add_parameter(Parameter("port", "integer", "TCP port", "Port to listen on.",
                                  default=8080, validator=_port))
    agent.add_parameter(Parameter("enabled", "boolean", "Serve requests",
                                  "Whether the service answers.", default=True,
                                  reloadable=True))
    agent.add_parameter(Parameter("mode", "select", "Role of this instance",
                                  "active serves, standby waits.", default="active",
                                  choices=("active", "standby")))
    agent.add_parameter(Parameter("addr", "string", "Bind address", "Address to bind.",
                                  unique_group="endpoint"))
    agent.add_parameter(Parameter("vlan", "integer", "VLAN", "VLAN of the address.",
                                  unique_group="endpoint", validator=_vlan))
    agent.add_action("start", start, timeout=30)
    agent.add_action("stop", stop, timeout=30)
    agent.add_action("monitor", monitor, timeout=20, interval=10, depth=0)
    agent.add_action("monitor", timeout=40, interval=60, depth=20)
    agent.add_action("reload-agent", reload_agent, timeout=10)
    return agent


ENV = {"OCF_RESKEY_name": "web", "OCF_RESOURCE_INSTANCE": "svc:1"}


def env(**extra: str) -> dict[str, str]:
    """The base environment plus parameters (``port=``: OCF_RESKEY_port) and HA_*/OCF_*
    variables as they are."""
    out = dict(ENV)
    for key, value in extra.items():
        out[key if key.startswith(("HA_", "OCF_")) else f"OCF_RESKEY_{key}"] = value
    return out


def run(action: str | None, environ: dict[str, str], agent: Agent | None = None,
        seen: list[Context] | None = None) -> Result:
    return (agent or example_agent(seen)).run_action(action, environ)


# --------------------------------------------------------------------------- codes


def test_codes_have_ocf_numbers_and_pacemaker_names() -> None:
    assert [int(c) for c in OCFCode] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 190, 191]
    assert str(OCFCode.SUCCESS) == "OCF_SUCCESS"
    assert OCFCode.ERR_CONFIGURED.ocf_name == "OCF_ERR_CONFIGURED"
    assert OCFCode(190).ocf_name == "OCF_DEGRADED"
    assert OCFCode.RUNNING_PROMOTED.ocf_name == "OCF_RUNNING_PROMOTED"
    assert OCFCode.NOT_RUNNING.pacemaker_text == "not running"
    assert describe(7) == "OCF_NOT_RUNNING (7)"
    assert describe(42) == "exit code 42"


def test_ocf_error_carries_code_and_reason() -> None:
    err = OCFError(5, "ip(8) missing")
    assert err.code is OCFCode.ERR_INSTALLED and err.reason == "ip(8) missing"
    assert OCFError(77, "custom").code == 77


# --------------------------------------------------------------------------- dispatch


@pytest.mark.parametrize("action", ["start", "stop", "monitor", "reload-agent"])
def test_each_declared_action_runs_its_handler(action: str) -> None:
    seen: list[Context] = []
    result = run(action, env(), seen=seen)
    assert result.code is OCFCode.SUCCESS and result.reason is None
    assert [ctx.action for ctx in seen] == [action]


def test_handler_code_and_exit_reason_reach_the_result() -> None:
    result = run("monitor", env(mode="standby"))
    assert result.code is OCFCode.NOT_RUNNING
    assert result.reason == "standby: nothing to serve"
    assert result.name == "OCF_NOT_RUNNING (7)"


def test_degraded_is_a_result_like_any_other() -> None:
    assert run("monitor", env(OCF_CHECK_LEVEL="20")).code is OCFCode.DEGRADED


def test_run_returns_the_exit_code_and_ignores_further_arguments(capsys) -> None:
    agent = example_agent()
    assert agent.run(["example", "monitor", "extra", "args"], env(mode="standby")) == 7
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == "ocf-exit-reason:standby: nothing to serve"


def test_exit_reason_prefix_from_the_environment(capsys) -> None:
    agent = example_agent()
    code = agent.run(["example", "monitor"],
                     env(mode="standby", OCF_EXIT_REASON_PREFIX="REASON>"))
    assert code == 7
    assert capsys.readouterr().err.splitlines()[-1] == "REASON>standby: nothing to serve"


def test_the_last_exit_reason_wins_and_is_written_once(capsys) -> None:
    agent = example_agent()

    def flaky(ctx: Context) -> OCFCode:
        ctx.exit_reason("first guess")
        ctx.exit_reason("link down on\neth1")
        return OCFCode.ERR_GENERIC

    agent.add_action("promote", flaky)
    assert agent.run(["example", "promote"], env()) == 1
    err = capsys.readouterr().err
    assert err.count("ocf-exit-reason:") == 1
    assert "ocf-exit-reason:link down on eth1\n" in err  # one line, as Pacemaker reads it


def test_an_ocf_error_sets_code_and_reason() -> None:
    agent = example_agent()

    def start(ctx: Context) -> OCFCode:
        ctx.exit_reason("superseded")
        raise OCFError(OCFCode.ERR_INSTALLED, "ip(8) not found")

    agent.add_action("promote", start)
    result = agent.run_action("promote", env())
    assert (result.code, result.reason) == (OCFCode.ERR_INSTALLED, "ip(8) not found")


def test_an_exception_is_err_generic_with_a_reason_and_no_traceback(capsys) -> None:
    agent = example_agent()

    def boom(ctx: Context) -> OCFCode:
        raise RuntimeError("netlink socket closed")

    agent.add_action("notify", boom)
    assert agent.run(["example", "notify"], env()) == 1
    out, err = capsys.readouterr()
    assert err.splitlines()[-1] == (
        "ocf-exit-reason:notify failed: RuntimeError: netlink socket closed")
    assert "Traceback" not in out + err


def test_the_traceback_goes_to_the_log_at_debug_level_only(tmp_path: Path, capsys) -> None:
    agent = example_agent()

    def boom(ctx: Context) -> OCFCode:
        raise KeyError("eth9")

    agent.add_action("notify", boom)
    quiet, debug = tmp_path / "quiet.log", tmp_path / "debug.log"
    agent.run_action("notify", env(HA_LOGFILE=str(quiet)))
    result = agent.run_action("notify", env(HA_LOGFILE=str(debug), HA_debug="1"))
    assert result.reason == "notify failed: KeyError: 'eth9'"
    assert "Traceback" not in quiet.read_text()
    assert "ERROR: notify failed: KeyError: 'eth9'" in quiet.read_text()
    assert "Traceback (most recent call last)" in debug.read_text()
    assert "Traceback" not in capsys.readouterr().err


def test_a_handler_must_return_an_exit_code() -> None:
    agent = example_agent()
    agent.add_action("notify", lambda ctx: None)  # type: ignore[arg-type, return-value]
    agent.add_action("promote", lambda ctx: 300)
    result = agent.run_action("notify", env())
    assert result.code is OCFCode.ERR_GENERIC
    assert result.reason == "notify handler returned None, not an exit code"
    assert agent.run_action("promote", env()).code is OCFCode.ERR_GENERIC


def test_a_custom_code_passes_through() -> None:
    agent = example_agent()
    agent.add_action("notify", lambda ctx: 42)
    result = agent.run_action("notify", env())
    assert result.code == 42 and result.name == "exit code 42"


def test_unknown_action_is_unimplemented_with_usage_on_stderr(capsys) -> None:
    assert example_agent().run(["/usr/lib/ocf/resource.d/test/example", "migrate_to"],
                               env()) == 3
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(
        "usage: example {start|stop|monitor|reload-agent|meta-data|validate-all|usage}\n")
    assert err.splitlines()[-1] == "ocf-exit-reason:action 'migrate_to' is not implemented"


def test_no_action_is_unimplemented_with_usage_on_stderr(capsys) -> None:
    assert example_agent().run(["example"], {}) == 3
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("usage: example {start|")
    assert err.splitlines()[-1] == "ocf-exit-reason:no action given"


@pytest.mark.parametrize("action", ["usage", "help", "--help"])
def test_usage_is_printed_on_stdout_and_succeeds(action: str, capsys) -> None:
    assert example_agent().run(["example", action], {}) == 0
    out, err = capsys.readouterr()
    assert out.startswith("usage: example {") and "Example service" in out
    assert err == ""


def test_meta_data_needs_no_environment_and_parses_nothing(capsys) -> None:
    seen: list[Context] = []
    agent = example_agent(seen)
    assert agent.run(["example", "meta-data"], {}) == 0  # 'name' is required, yet unset
    out, err = capsys.readouterr()
    assert out.startswith('<?xml version="1.0"?>\n<!DOCTYPE resource-agent')
    assert '<resource-agent name="example" version="0.3">' in out
    assert err == "" and seen == []


def test_meta_data_in_an_empty_environment_in_a_fresh_process() -> None:
    # This module, imported by its package path from the checkout (the process's cwd).
    module = ".".join(Path(__file__).resolve().relative_to(ROOT).with_suffix("").parts)
    code = (f"import sys; from {module} import example_agent;"
            " sys.exit(example_agent().run())")
    proc = subprocess.run([PYTHON, "-c", code, "meta-data"], env={}, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().endswith("</resource-agent>")
    assert ('<parameter name="name" required="1" unique="1" unique-group="name" '
            'reloadable="0">') in proc.stdout
    assert proc.stderr == ""


# --------------------------------------------------------------------------- parameters


def test_typed_values_and_defaults_reach_the_handler() -> None:
    seen: list[Context] = []
    run("start", env(port="443", enabled="off", mode="standby", vlan="12"), seen=seen)
    assert seen[0].params == {"name": "web", "port": 443, "enabled": False,
                              "mode": "standby", "addr": None, "vlan": 12}
    seen.clear()
    run("start", env(), seen=seen)
    assert seen[0].params == {"name": "web", "port": 8080, "enabled": True,
                              "mode": "active", "addr": None, "vlan": None}


@pytest.mark.parametrize("environ", [{}, {"OCF_RESKEY_name": ""}])
def test_missing_required_parameter_is_err_configured(environ: dict[str, str]) -> None:
    seen: list[Context] = []
    result = run("start", environ, seen=seen)
    assert result.code is OCFCode.ERR_CONFIGURED
    assert result.reason == "required parameter 'name' is not set"
    assert seen == []  # the handler never ran


@pytest.mark.parametrize(("key", "value", "reason"), [
    ("port", "http", "parameter 'port' has invalid value 'http': not an integer"),
    ("port", "8.5", "parameter 'port' has invalid value '8.5': not an integer"),
    ("port", "70000", "parameter 'port' has invalid value '70000': not accepted"),
    ("vlan", "0", "parameter 'vlan' has invalid value '0': VLAN ids are 1 to 4094"),
    ("enabled", "maybe", "parameter 'enabled' has invalid value 'maybe': "
                         "not a boolean (true/false, yes/no, 1/0, on/off)"),
    ("mode", "Active", "parameter 'mode' has invalid value 'Active': "
                       "not one of active, standby"),
])
def test_bad_value_is_err_configured_naming_parameter_and_value(
        key: str, value: str, reason: str) -> None:
    for action in ("start", "monitor", "validate-all"):
        result = run(action, env(**{key: value}))
        assert (result.code, result.reason) == (OCFCode.ERR_CONFIGURED, reason)


def test_a_multi_line_value_stays_on_one_line_in_the_reason() -> None:
    result = run("start", env(port="1\n2"))
    assert result.reason == r"parameter 'port' has invalid value '1\n2': not an integer"


@pytest.mark.parametrize("text", ["true", "TRUE", "yes", "Yes", "1", "on", "ON", " on "])
def test_ocf_true(text: str) -> None:
    assert parse_boolean(text) is True


@pytest.mark.parametrize("text", ["false", "False", "no", "NO", "0", "off", "Off"])
def test_ocf_false(text: str) -> None:
    assert parse_boolean(text) is False


@pytest.mark.parametrize("text", ["", "2", "ja", "enabled"])
def test_not_an_ocf_boolean(text: str) -> None:
    with pytest.raises(ValueError):
        parse_boolean(text)


def test_bad_declarations_fail_at_declaration() -> None:
    with pytest.raises(ValueError, match="bad default"):
        Parameter("port", "integer", default=0, validator=_port)
    with pytest.raises(ValueError, match="bad default"):
        Parameter("mode", "select", default="passive", choices=("active",))
    with pytest.raises(ValueError, match="environment variable"):
        Parameter("bad-name")
    with pytest.raises(ValueError, match="type"):
        Parameter("x", "float")
    with pytest.raises(ValueError, match="choices"):
        Parameter("x", "string", choices=("a",))
    agent = example_agent()
    with pytest.raises(ValueError, match="twice"):
        agent.add_parameter(Parameter("name"))
    with pytest.raises(ValueError, match="another handler"):
        agent.add_action("start", lambda ctx: 0)
    with pytest.raises(ValueError, match="needs a handler"):
        agent.add_action("promote")
    with pytest.raises(ValueError, match="generated"):
        agent.add_action("meta-data", lambda ctx: 0)
    with pytest.raises(ValueError, match="timeout"):
        agent.add_action("demote", lambda ctx: 0, timeout=0)
    with pytest.raises(ValueError, match="interval"):
        agent.add_action("demote", lambda ctx: 0, interval=-1)
    with pytest.raises(ValueError, match="metadata_profile 'ocf-2'"):
        Agent("x", "1", "s", "l", metadata_profile="ocf-2")


# --------------------------------------------------------------------------- validate-all


def test_validate_all_checks_parameters_without_a_hook() -> None:
    assert run("validate-all", env()).code is OCFCode.SUCCESS
    assert run("validate-all", {}).code is OCFCode.ERR_CONFIGURED


def test_validate_all_runs_the_agent_hook_after_parsing() -> None:
    checked: list[dict[str, object]] = []

    def validate(ctx: Context) -> OCFCode:
        checked.append(dict(ctx.params))
        if ctx.params["addr"] is not None and ctx.params["vlan"] is None:
            raise OCFError(OCFCode.ERR_CONFIGURED, "addr needs vlan")
        return OCFCode.SUCCESS

    agent = example_agent()
    agent.validate = validate
    assert agent.run_action("validate-all", env(vlan="7")).code is OCFCode.SUCCESS
    result = agent.run_action("validate-all", env(addr="192.0.2.1"))
    assert (result.code, result.reason) == (OCFCode.ERR_CONFIGURED, "addr needs vlan")
    assert [c["vlan"] for c in checked] == [7, None]
    assert agent.run_action("validate-all", env(vlan="x")).code is OCFCode.ERR_CONFIGURED
    assert len(checked) == 2  # the hook never saw the unparsable value


def test_validate_all_warns_about_unknown_parameters(tmp_path: Path) -> None:
    log = tmp_path / "agent.log"
    result = run("validate-all", env(prot="80", CRM_meta_interval="0", HA_LOGFILE=str(log)))
    assert result.code is OCFCode.SUCCESS
    text = log.read_text()
    assert "WARNING: ignoring unknown parameter 'prot'" in text
    assert "CRM_meta" not in text


# --------------------------------------------------------------------------- context


@pytest.mark.parametrize(("action", "interval", "probe"), [
    ("monitor", None, True),
    ("monitor", "0", True),
    ("monitor", "10000", False),
    ("start", "0", False),
])
def test_probe_detection(action: str, interval: str | None, probe: bool) -> None:
    seen: list[Context] = []
    extra = {} if interval is None else {"CRM_meta_interval": interval}
    run(action, env(**extra), seen=seen)
    assert seen[0].is_probe is probe
    assert seen[0].interval_ms == int(interval or 0)


@pytest.mark.parametrize(("raw", "level"), [
    (None, 0), ("0", 0), ("5", 0), ("10", 10), ("15", 10), ("20", 20), ("99", 20),
    ("-3", 0), ("heavy", 0),
])
def test_check_level_maps_to_the_next_lower_known_level(raw: str | None, level: int) -> None:
    seen: list[Context] = []
    run("monitor", env() if raw is None else env(OCF_CHECK_LEVEL=raw), seen=seen)
    assert seen[0].check_level == level


def test_check_level_also_read_with_the_old_prefix() -> None:
    seen: list[Context] = []
    run("monitor", env(OCF_RESKEY_OCF_CHECK_LEVEL="10"), seen=seen)
    assert seen[0].check_level == 10


def test_instance_meta_attributes_and_timeout() -> None:
    seen: list[Context] = []
    run("start", env(CRM_meta_timeout="30000", CRM_meta_clone_max="2",
                     CRM_meta_notify="true"), seen=seen)
    ctx = seen[0]
    assert ctx.instance == "svc:1"
    assert ctx.timeout_ms == 30000
    assert ctx.meta("clone-max") == "2" and ctx.meta("clone_max") == "2"
    assert ctx.meta("notify") == "true"
    assert ctx.meta("globally-unique") is None and ctx.meta("x", "dflt") == "dflt"
    assert ctx.action == "start"
    seen.clear()
    run("start", {"OCF_RESKEY_name": "web"}, seen=seen)
    assert seen[0].instance is None and seen[0].timeout_ms is None


def test_the_context_log_is_tagged_with_agent_and_instance(tmp_path: Path) -> None:
    log = tmp_path / "agent.log"
    agent = example_agent()

    def notify(ctx: Context) -> OCFCode:
        ctx.log.info(f"notified on {ctx.meta('notify_type')}")
        return OCFCode.SUCCESS

    agent.add_action("notify", notify)
    agent.run_action("notify", env(CRM_meta_notify_type="pre", HA_LOGFILE=str(log)))
    line = log.read_text().splitlines()[0]
    assert f"example(svc:1)[{os.getpid()}]: INFO: notified on pre" in line


# --------------------------------------------------------------------------- import cost


def test_the_monitor_path_loads_neither_lxml_nor_click() -> None:
    """Pacemaker runs monitor every few seconds: the agent side stays standard library."""
    code = """
import sys
from ocf import Agent, OCFCode, Parameter
agent = Agent("cheap", "1", "short", "long")
agent.add_parameter(Parameter("nic", required=True))
agent.add_action("monitor", lambda ctx: OCFCode.NOT_RUNNING)
rc = agent.run(["cheap", "monitor"], {"OCF_RESKEY_nic": "eth0"})
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("lxml", "click"))
print(rc, heavy)
rc = agent.run(["cheap", "meta-data"], {})
print(rc, "lxml" in sys.modules)
"""
    proc = subprocess.run([PYTHON, "-X", "importtime", "-c", code], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "7 []"
    assert lines[-1] == "0 True"  # ...and meta-data still gets it when needed
    imported = [row.rsplit("|", 1)[-1].strip() for row in proc.stderr.splitlines()
                if row.startswith("import time:")]
    assert "ocf.agent" in imported
    before_meta_data = imported[:imported.index("ocf.metadata")]
    assert not [m for m in before_meta_data if m.split(".")[0] in ("lxml", "click")]


def test_the_resource_actions_are_declared_in_one_call() -> None:
    def ok(ctx: Context) -> OCFCode:
        return OCFCode.SUCCESS

    def bad(ctx: Context) -> OCFCode:
        ctx.exit_reason("not today")
        return OCFCode.ERR_CONFIGURED

    agent = Agent("one-call", "1.0", "Declared at once", "All the resource actions.")
    agent.add_resource_actions(start=ok, stop=ok, monitor=ok, reload=ok, validate=bad,
                               timeout=45, reloads=("reload", "reload-agent"))
    listed = [(a.name, a.timeout, a.interval) for a in agent.actions]
    assert listed == [("start", 45, None), ("stop", 45, None), ("monitor", 20, 10),
                      ("reload", 45, None), ("reload-agent", 45, None),
                      ("meta-data", 5, None), ("validate-all", 20, None)]
    assert agent.run_action("validate-all", {}).code == OCFCode.ERR_CONFIGURED
    assert agent.run_action("reload", {}).code == OCFCode.SUCCESS
