"""The defaults file (/etc/default/clearview-ipmp, in.mpathd's /etc/default/mpathd): read
as shell assignments, every line it cannot use reported, the sample's values true."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipmp_core.defaults_file import Defaults, load_defaults

SAMPLE = Path(__file__).resolve().parents[3] / "etc" / "default" / "clearview-ipmp"


def _read(tmp_path: Path, text: str) -> Defaults:
    path = tmp_path / "defaults"
    path.write_text(text)
    return load_defaults(path)


@pytest.mark.parametrize("line", ['FAILBACK="no"', "FAILBACK='no'", "export FAILBACK=no",
                                  "FAILBACK=no   # keep the repaired NIC inactive",
                                  "  failback=\"No\"", "FAILBACK=n\\o"])
def test_defaults_file_takes_shell_quoting_like_a_sourced_etc_default(tmp_path: Path,
                                                                     line: str) -> None:
    d = _read(tmp_path, line + "\n")
    assert d.failback is False
    assert d.notes == []


def test_defaults_file_fdt_as_in_mpathd_reads_it_with_strtol_base_0(tmp_path: Path) -> None:
    d = _read(tmp_path, 'FAILURE_DETECTION_TIME="0x7d0"\n')
    assert (d.fdt_ms, d.notes) == (2000, [])


def test_defaults_file_logs_every_line_it_ignores(tmp_path: Path) -> None:
    d = _read(tmp_path, "\n".join([
        "FAILBACK=perhaps",              # in.mpathd: "Invalid value for FAILBACK perhaps"
        "FAILBACK = no",                 # a shell would run a command named FAILBACK
        'FAILBACK="no',                  # unbalanced quote
        "TRACK_ALL=yes",                 # unknown key
        "ANNOUNCE_COUNT=1 2",            # two words
        "FAILURE_DETECTION_TIME=ten",
    ]) + "\n")
    assert d == Defaults(notes=d.notes)  # nothing was taken
    assert len(d.notes) == 6
    path = tmp_path / "defaults"
    assert d.notes[0] == (f"{path}:1: Invalid value for FAILBACK perhaps; "
                          "ignoring 'FAILBACK=perhaps'")
    assert "no spaces around '='" in d.notes[1]
    assert "No closing quotation" in d.notes[2]
    assert d.notes[3] == f"{path}:4: unknown key TRACK_ALL; ignoring 'TRACK_ALL=yes'"
    assert "expected KEY=VALUE" in d.notes[4]
    assert "Invalid failure detection time ten" in d.notes[5]


@pytest.mark.parametrize(("value", "note"), [
    ("50", "Too small failure detection time of 50, assuming minimum of 100 ms"),
    ("0", "Invalid failure detection time 0, assuming default of 10000 ms"),
])
def test_defaults_file_fdt_notes_use_in_mpathd_wording(tmp_path: Path, value: str,
                                                      note: str) -> None:
    assert _read(tmp_path, f"FAILURE_DETECTION_TIME={value}\n").notes == [note]


def test_defaults_file_last_assignment_counts_as_in_a_shell(tmp_path: Path) -> None:
    d = _read(tmp_path, "FAILBACK=no\nFAILBACK=yes\n")
    assert d.failback is True
    assert d.notes == [f"{tmp_path / 'defaults'}:2: FAILBACK is set again (line 1); "
                       "the last value counts"]


def test_sample_defaults_file_reads_cleanly_and_states_the_built_in_values(
        tmp_path: Path) -> None:
    text = SAMPLE.read_text()
    assert load_defaults(SAMPLE) == Defaults()  # as installed: all commented out
    settings = [line[1:] for line in text.splitlines()
                if line.startswith("#") and "=" in line and line[1:2].isupper()]
    assert {s.split("=")[0] for s in settings} == {
        "FAILURE_DETECTION_TIME", "FAILBACK", "TRACK_INTERFACES_ONLY_WITH_GROUPS",
        "TRANSITIVE_PROBING", "ANNOUNCE_COUNT", "ANNOUNCE_INTERVAL", "ANNOUNCE_REPEAT",
        "METRICS_DIR"}
    assert _read(tmp_path, "\n".join(settings) + "\n") == Defaults()  # uncommented


@pytest.mark.parametrize(("line", "expected"), [("TRANSITIVE_PROBING=yes", True),
                                                ('transitive_probing="no"', False),
                                                ("export TRANSITIVE_PROBING=on", True)])
def test_defaults_file_transitive_probing(tmp_path: Path, line: str, expected: bool) -> None:
    d = _read(tmp_path, line + "\n")
    assert (d.transitive_probing, d.notes) == (expected, [])


def test_defaults_file_bad_transitive_probing_is_ignored_with_a_note(tmp_path: Path) -> None:
    d = _read(tmp_path, "TRANSITIVE_PROBING=sometimes\n")
    assert d.transitive_probing is Defaults().transitive_probing is False
    assert d.notes == [f"{tmp_path / 'defaults'}:1: Invalid value for TRANSITIVE_PROBING "
                       "sometimes; ignoring 'TRANSITIVE_PROBING=sometimes'"]
