"""Run the generated bash completion the way bash runs it on TAB, without a terminal.

bash sets COMP_LINE, COMP_POINT, COMP_WORDS and COMP_CWORD and calls the function that
`complete -p COMMAND` names; we do the same in a non-interactive bash, splitting
COMP_WORDS as readline does (at blanks, and at ':' and '=' from COMP_WORDBREAKS, which
become words of their own).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "completion" / "clearview-ipmp"
# The commands the completion calls (ipmpadm complete-names) are this venv's.
VENV_BIN = str(Path(sys.executable).parent)
# The COMP_WORDBREAKS characters our command lines contain.
_BREAKS = re.compile(r"[=:]+|[^=:]+")
TIMEOUT_S = 30


def comp_words(line: str) -> list[str]:
    """COMP_WORDS for ``line`` with the cursor at its end."""
    words = [piece for word in line.split() for piece in _BREAKS.findall(word)]
    if not line or line[-1].isspace():
        words.append("")
    return words


def completion_script(line: str, setup: str | None = None) -> str:
    """The bash that completes ``line``; ``setup`` loads the completion (default: source
    the generated script from the checkout)."""
    words = comp_words(line)
    command = line.split()[0]
    return "\n".join([
        setup if setup is not None else f"source {shlex.quote(str(SCRIPT))}",
        f"COMP_LINE={shlex.quote(line)}",
        f"COMP_POINT={len(line)}",
        "COMP_WORDS=(" + " ".join(shlex.quote(w) for w in words) + ")",
        f"COMP_CWORD={len(words) - 1}",
        f"spec=$(complete -p {shlex.quote(command)}) || exit 3",
        'func=${spec#*-F }; func=${func%% *}',
        f'"$func" {shlex.quote(command)} "${{COMP_WORDS[COMP_CWORD]}}" '
        '"${COMP_WORDS[COMP_CWORD-1]}"',
        '(( ${#COMPREPLY[@]} )) && printf "%s\\n" "${COMPREPLY[@]}"',
        "exit 0",
    ])


def complete(line: str, *, prefix: Sequence[str] = (), path: Sequence[str] = (),
             env: Mapping[str, str] | None = None, setup: str | None = None) -> list[str]:
    """The words bash would offer for ``line`` (run under ``prefix``, e.g. ip netns exec;
    ``path``: directories searched before this venv's bin)."""
    environ = dict(env if env is not None else os.environ)
    environ["PATH"] = ":".join([*path, VENV_BIN, environ.get("PATH", "/usr/bin:/bin")])
    proc = subprocess.run([*prefix, "bash", "--norc", "--noprofile", "-c",
                           completion_script(line, setup)],
                          capture_output=True, text=True, env=environ, timeout=TIMEOUT_S,
                          stdin=subprocess.DEVNULL)
    assert (proc.returncode, proc.stderr) == (0, ""), (line, proc.returncode, proc.stderr)
    return proc.stdout.splitlines()
