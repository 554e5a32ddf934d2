"""The generated bash completion, run by a real bash as on TAB: subcommands, options and
choices from the click declarations, the agents' actions and parameters, ipmpstat's
fields per mode, and names from `ipmpadm complete-names` (a stand-in here; the daemon's
real answer is tests/netns/test_completion.py's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.cli import agents
from ipmp_core.cli import ipmpadm
from ipmp_core.ipmpstat_fields import FIELDS, Mode
from tests.support.bash_completion import comp_words, complete


def test_comp_words_split_as_readline_does() -> None:
    assert comp_words("ipmpadm delete-addr 2001:db8::1") == [
        "ipmpadm", "delete-addr", "2001", ":", "db8", "::", "1"]
    assert comp_words("ipmp-ocf ipmp start group=") == [
        "ipmp-ocf", "ipmp", "start", "group", "="]
    assert comp_words("ipmpadm ") == ["ipmpadm", ""]


def test_ipmpadm_offers_every_visible_subcommand_and_no_hidden_one() -> None:
    offered = complete("ipmpadm ")
    visible = [n for n, c in ipmpadm.cli.commands.items() if not c.hidden]
    assert set(visible) <= set(offered)
    assert "complete-names" not in offered
    assert sorted(complete("ipmpadm cre")) == ["create-addr", "create-ipmp", "create-route"]


def test_options_and_choices_come_from_the_declarations() -> None:
    assert complete("ipmpadm add-ipmp -") == ["-i", "-s", "--standby", "-h", "--help"]
    assert complete("ipmpadm create-addr -T d") == ["dhcp"]
    assert complete("ipmpd --log") == ["--log-file"]
    assert "--version" in complete("ipmpstat --")


def test_ipmpadm_interfaces_for_a_new_group_are_the_hosts(tmp_path: Path) -> None:
    host = sorted(p.name for p in Path("/sys/class/net").iterdir())
    assert complete("ipmpadm create-ipmp -i ") == host


@pytest.mark.parametrize("mode", list(Mode))
def test_ipmpstat_o_offers_the_fields_of_the_mode_on_the_line(mode: Mode) -> None:
    names = sorted(f.name.lower() for f in FIELDS[mode])
    assert sorted(complete(f"ipmpstat -{mode.value} -o ")) == sorted([*names, "all"])
    first, second = names[0], names[1]
    assert f"{first},{second}" in complete(f"ipmpstat -n{mode.value} -o {first},{second[:1]}")


def test_ipmp_ocf_offers_agents_then_actions_then_parameters() -> None:
    offered = complete("ipmp-ocf ")
    assert {"install", "list", "docs", *agents()} <= set(offered)
    for name, agent in agents().items():
        assert complete(f"ipmp-ocf --trace {name} ") == list(dict.fromkeys(agent.action_names()))
        assert complete(f"ipmp-ocf {name} start ") == [f"{p}=" for p in agent.parameters]


def _stand_in(tmp_path: Path, names: dict[str, list[str]]) -> Path:
    """An `ipmpadm` that answers complete-names KIND with fixed names, as the daemon would."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    arms = "".join(f"  {kind}) printf '%s\\n' {' '.join(found)} ;;\n"
                   for kind, found in names.items())
    script = bin_dir / "ipmpadm"
    script.write_text("#!/bin/sh\n[ \"$1\" = complete-names ] || exit 9\nshift\n"
                      f"for kind; do case $kind in\n{arms}esac; done\n")
    script.chmod(0o755)
    return bin_dir


def test_names_with_colons_and_after_equals_complete_as_one_word(tmp_path: Path) -> None:
    bin_dir = _stand_in(tmp_path, {"groups": ["ipmp0", "ipmp1"],
                                   "addresses": ["ipmp0/v6", "2001:db8::10", "2001:db8::20"]})
    # bash replaces only its own current word (after the last ':' or '='): the replies
    # are what follows the part of the address it already split off.
    assert complete("ipmpadm delete-addr 2001:db8::1", path=[str(bin_dir)]) == ["10"]
    assert complete("ipmpadm delete-addr 2001:db8::", path=[str(bin_dir)]) == ["::10", "::20"]
    assert complete("ipmpadm delete-addr ipmp0/", path=[str(bin_dir)]) == ["ipmp0/v6"]
    assert complete("ipmp-ocf ipmp monitor group=", path=[str(bin_dir)]) == [
        "=ipmp0", "=ipmp1"]
    assert complete("ipmp-ocf ipmp monitor group=ipmp1", path=[str(bin_dir)]) == ["ipmp1"]
    assert complete("ipmpadm set-ipmp -p fdt=100 ip", path=[str(bin_dir)]) == [
        "ipmp0", "ipmp1"]
