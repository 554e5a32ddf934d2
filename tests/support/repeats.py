"""Blocks of source lines repeated within a set of files: the same lines, or the same
shape (names, strings and numbers compared as equal), for the structural checks of
tests/unit/test_structure.py.

What is compared: each source line that holds code, as its tokens. Blank lines,
comments, docstrings and import statements are left out (import blocks repeat by nature
and say nothing about duplicated logic). A line's indentation is kept relative to the
line before it in the block, so the same statements nested differently do not match.

What counts as a repeat: ``min_lines`` consecutive lines whose shapes equal those of
``min_lines`` consecutive lines elsewhere (another file, or the same file without the
two blocks overlapping), grown to the longest such run. An exact repeat always counts.
A block that only has the same shape must also be code worth factoring out: at least
``min_distinct`` different line shapes (six ``NAME = NUMBER`` constants in a row are a
list, not a copy) and some lines inside a function body (two dataclasses with fields
of the same types, or two rows of a table, are declarations of different things in
the one way Python spells them).
"""

from __future__ import annotations

import ast
import io
import keyword
import token
import tokenize
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

#: Tokens that carry no code of their own on a line.
_LAYOUT = {token.NL, token.NEWLINE, token.COMMENT, token.INDENT, token.DEDENT,
           token.ENCODING, token.ENDMARKER}


@dataclass(frozen=True)
class Line:
    """One code line of a file: where it is and how it compares."""

    path: Path
    number: int
    exact: str  # its tokens as written (names, strings and numbers kept)
    shape: str  # its tokens with names, strings and numbers replaced by a placeholder
    in_function: bool  # inside a function body (code that runs, not a declaration)


@dataclass(frozen=True)
class Repeat:
    """A block found in more than one place: ``where`` lists (path, first line, last
    line) of each copy; ``exact`` when the copies are the same tokens, not only the same
    shape."""

    length: int
    exact: bool
    where: tuple[tuple[Path, int, int], ...]

    def __str__(self) -> str:
        kind = "same lines" if self.exact else "same shape"
        places = ", ".join(f"{p}:{a}-{b}" for p, a, b in self.where)
        return f"{self.length} lines ({kind}): {places}"


def _skipped_lines(tree: ast.AST) -> set[int]:
    """Line numbers of docstrings and import statements."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            skip.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                doc = body[0]
                skip.update(range(doc.lineno, (doc.end_lineno or doc.lineno) + 1))
    return skip


def _function_body_lines(tree: ast.AST) -> set[int]:
    """Line numbers inside the body of some function (from its first statement on)."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            inside.update(range(node.body[0].lineno, (node.end_lineno or node.lineno) + 1))
    return inside


def _shape_of(tok: tokenize.TokenInfo) -> str:
    if tok.type == token.NAME and not keyword.iskeyword(tok.string):
        return "N"
    if tok.type == token.STRING or tok.type in _fstring_types():
        return "S"
    if tok.type == token.NUMBER:
        return "0"
    return tok.string


def _fstring_types() -> set[int]:
    """The f-string token types of Python 3.12+ (none before)."""
    return {getattr(token, n) for n in ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END")
            if hasattr(token, n)}


def code_lines(path: Path) -> list[Line]:
    """The lines of ``path`` that are compared (see the module docstring)."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    skip = _skipped_lines(tree)
    in_function = _function_body_lines(tree)
    exact: dict[int, list[str]] = defaultdict(list)
    shape: dict[int, list[str]] = defaultdict(list)
    depth = 0
    depth_at: dict[int, int] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == token.INDENT:
            depth += 1
        elif tok.type == token.DEDENT:
            depth -= 1
        if tok.type in _LAYOUT:
            continue
        row = tok.start[0]
        if row in skip:
            continue
        depth_at.setdefault(row, depth)
        exact[row].append(tok.string)
        shape[row].append(_shape_of(tok))
    lines = []
    for row in sorted(exact):
        lines.append(Line(path, row, " ".join(exact[row]),
                          f"{depth_at[row]}|" + " ".join(shape[row]), row in in_function))
    return lines


def _relative(block: list[Line], attr: str) -> tuple[str, ...]:
    """The block's lines as compared: indentation relative to the block's first line."""
    base = int(block[0].shape.split("|", 1)[0])
    out = []
    for line in block:
        level, rest = line.shape.split("|", 1)
        text = rest if attr == "shape" else line.exact
        out.append(f"{int(level) - base}|{text}")
    return tuple(out)


def find_repeats(paths: Iterable[Path], min_lines: int = 6,
                 min_distinct: int = 3) -> list[Repeat]:
    """Every repeated block (see the module docstring), longest first."""
    files = [code_lines(p) for p in sorted(paths)]
    windows: dict[tuple[str, ...], list[tuple[int, int]]] = defaultdict(list)
    for f, lines in enumerate(files):
        for i in range(len(lines) - min_lines + 1):
            windows[_relative(lines[i:i + min_lines], "shape")].append((f, i))
    # Pairs of window starts that match, then grown to maximal runs.
    pairs: set[tuple[int, int, int, int]] = set()
    for starts in windows.values():
        for a in range(len(starts)):
            for b in range(a + 1, len(starts)):
                (fa, ia), (fb, ib) = starts[a], starts[b]
                if fa == fb and abs(ia - ib) < min_lines:
                    continue  # a run of like lines matching itself shifted
                pairs.add((fa, ia, fb, ib))
    found: dict[tuple[tuple[Path, int, int], ...], Repeat] = {}
    for fa, ia, fb, ib in sorted(pairs):
        if (fa, ia - 1, fb, ib - 1) in pairs:
            continue  # not the start of a run
        n = min_lines
        while (fa, ia + n - min_lines + 1, fb, ib + n - min_lines + 1) in pairs:
            n += 1
        block_a, block_b = files[fa][ia:ia + n], files[fb][ib:ib + n]
        exact = _relative(block_a, "exact") == _relative(block_b, "exact")
        distinct = len({line.shape.split("|", 1)[1] for line in block_a})
        runs = any(line.in_function for line in (*block_a, *block_b))
        if not exact and (distinct < min_distinct or not runs):
            continue
        where = tuple((b[0].path, b[0].number, b[-1].number) for b in (block_a, block_b))
        found[where] = Repeat(n, exact, where)
    return sorted(found.values(), key=lambda r: (-r.length, str(r)))
