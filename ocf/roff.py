"""A small man(7) writer: the generated manual pages are built with it, so that every page
escapes text the same way and renders without a groff warning (tests/unit/docs).

Only what the pages need: a title, sections, paragraphs, tagged paragraphs (options,
parameters, keys) and literal blocks. Text is escaped here; callers never write roff.
"""

from __future__ import annotations

import inspect
import re

# A paragraph break in docstrings and declarations: one or more blank lines.
_PARAGRAPHS = re.compile(r"\n\s*\n")


def escape(text: str) -> str:
    """Text as roff reads it literally: backslashes doubled as \\e, a leading control
    character neutralised, and double quotes safe inside macro arguments."""
    text = text.replace("\\", "\\e").replace('"', "\\(dq")
    lines = [("\\&" + line) if line[:1] in (".", "'") else line for line in text.split("\n")]
    return "\n".join(lines)


def literal(text: str) -> str:
    """A command, option or file name: escaped, with hyphen-minus as \\- so that it can be
    searched for and copied (a bare - may print as a hyphen, U+2010)."""
    return escape(text).replace("-", "\\-")


def paragraphs(text: str) -> list[str]:
    """Docstring-style text split into paragraphs, each folded to one line."""
    cleaned = inspect.cleandoc(text) if text else ""
    return [" ".join(block.split()) for block in _PARAGRAPHS.split(cleaned) if block.strip()]


class Page:
    """One manual page, built section by section; ``text()`` is the roff source."""

    def __init__(self, name: str, section: int, source: str, manual: str) -> None:
        self.lines = [f'.TH "{literal(name).upper()}" "{section}" "" "{escape(source)}" '
                      f'"{escape(manual)}"']

    def section(self, title: str) -> None:
        self.lines.append(f".SH {escape(title.upper())}")

    def subsection(self, title: str) -> None:
        self.lines.append(f'.SS "{literal(title)}"')

    def raw(self, line: str) -> None:
        """A line of roff the caller has escaped itself (with escape() or literal())."""
        self.lines.append(line)

    def para(self, text: str, indented: bool = False) -> None:
        """Prose: each paragraph of ``text`` starts with .PP (or .IP inside a tag)."""
        for block in paragraphs(text):
            self.lines += [".IP" if indented else ".PP", escape(block)]

    def tagged(self, tag: str, text: str, *, bold: bool = True) -> None:
        """A tagged paragraph: ``tag`` (escaped as a literal) over indented ``text``."""
        self.lines += [".TP", f'.B "{literal(tag)}"' if bold else literal(tag)]
        for index, block in enumerate(paragraphs(text)):
            self.lines += [escape(block)] if index == 0 else [".IP", escape(block)]

    def example(self, lines: list[str]) -> None:
        """A literal block (no filling, no adjusting), e.g. commands to type."""
        self.lines += [".PP", ".RS 4", ".nf"]
        self.lines += [literal(line) if line else ".sp" for line in lines]
        self.lines += [".fi", ".RE"]

    def see_also(self, pages: list[str]) -> None:
        """SEE ALSO: "name(section)" references, comma separated, in bold."""
        self.section("See also")
        refs = []
        for ref in pages:
            name, _, rest = ref.partition("(")
            refs.append(f".BR {literal(name)} ({rest},")
        refs[-1] = refs[-1].rstrip(",")
        self.lines += refs

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"
