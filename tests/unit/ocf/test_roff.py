"""ocf.roff: what goes in as text comes out of groff as the same text, whatever roff
would otherwise read in it (a leading dot or quote, a backslash, double quotes, dashes)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ocf.roff import Page, escape, literal

TRICKY = [".B not a macro", "'also not a macro", "a \\fBbackslash\\fR stays",
          'say "hello"', "--option and -x"]


def render(source: str, tmp_path: Path) -> tuple[str, str]:
    page = tmp_path / "t.7"
    page.write_text(source)
    proc = subprocess.run(["groff", "-man", "-ww", "-Tutf8", "-P-cbou", "-rLL=200n",
                           str(page)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, proc.stderr


def test_text_survives_roff_literally(tmp_path: Path) -> None:
    page = Page("t", 7, "test 1", "tests")
    page.section("Name")
    page.raw("t \\- a test")
    page.section("Description")
    for text in TRICKY:
        page.para(text)
        page.tagged(text, text)
    page.example(TRICKY)
    out, warnings = render(page.text(), tmp_path)
    assert warnings == ""
    flat = out.replace("\u2010", "-").replace("\u2212", "-")
    for text in TRICKY:
        assert flat.count(text) == 4, (text, flat)  # paragraph, tag, its text, example


def test_without_escaping_roff_eats_the_text(tmp_path: Path) -> None:
    out, _ = render('.TH T 7\n.SH NAME\nt \\- x\n.SH D\n' + "\n".join(TRICKY) + "\n",
                    tmp_path)
    for text in TRICKY[:3]:  # run as requests and escapes: their text is gone or changed
        assert text not in out


def test_literal_marks_dashes_as_minus_signs() -> None:
    assert literal("ipmp-ocf --trace") == "ipmp\\-ocf \\-\\-trace"
    assert escape("-x") == "-x"
