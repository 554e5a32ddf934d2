"""The daemon's state file as it writes it: the configuration, the sysctls it replaced,
the journal of removals under way, and the refusal of a file that could not be loaded."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Generator
from typing import Any

from ipmp_core import errors
from ipmp_core.engine.actions import Action, ConfigChanged, SetTestAddresses, UnbindAddress
from ipmp_core.engine.engine import Engine
from ipmp_core.errors import EngineError
from ipmp_core.persist import StateFile
from ipmp_core.state_json import StateFileError

log = logging.getLogger("ipmpd")

# Key under which the daemon keeps the namespace-wide sysctls it replaced.
GLOBAL_KEY = "*"


async def run_steps(steps: Generator[None, None, Any]) -> Any:
    """Run a stepped engine call (Engine.load_steps, check_steps), returning to the
    event loop between its steps; its return value."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value
        await asyncio.sleep(0)


class StateJournal:
    """Owns what the daemon keeps in its state file besides the engine's configuration:
    the sysctls it replaced (``saved_sysctls``), the addresses a change is removing
    (``pending_removals``, the journal) and the refusal of a file that could not be
    loaded (``refusal``); writes the file, and reads it back at start."""

    def __init__(self, state: StateFile, engine: Engine) -> None:
        self.state = state
        self.engine = engine
        self.saved_sysctls: dict[str, dict[str, str]] = {}
        # Set while the state file could not be loaded: {"kept_aside", "message",
        # "since"}; privileged requests are refused until the operator acts.
        self.refusal: dict[str, str] | None = None
        # The journal: addresses a configuration change is about to remove from the
        # kernel ({"interface", "address"}), written with the new configuration before
        # the kernel is touched (see write_intent).
        self.pending_removals: list[dict[str, str]] = []
        self.intent_saved: dict[str, Any] | None = None

    async def read(self, hints: dict[str, str]) -> dict[str, Any]:
        """The state file if all of it can be applied, else {}: a file that cannot is
        kept aside (renamed, never overwritten) and changes are refused until the
        operator acts (docs/operations.md), so that nothing of it is half-applied and
        the next save cannot make a loss permanent. The trial load runs in steps (on a
        scratch engine: nothing else sees it), with the real load's ``hints``."""
        path = self.state.path
        try:
            # Parsing and validating 1,000 addresses takes ~40 ms of pure Python that
            # touches nothing of the daemon's: in a thread, the event loop runs meanwhile
            # (the interpreter switches threads every few milliseconds).
            persisted = await asyncio.to_thread(self.state.load)
            await run_steps(self.engine.check_steps(persisted, hints))
        except (StateFileError, EngineError) as exc:
            problem = exc.message
        except (KeyError, TypeError, ValueError) as exc:  # a gap in the schema: still refuse
            problem = f"cannot be applied ({type(exc).__name__}: {exc})"
        except OSError as exc:  # unreadable: left where it is, and never written over
            self.refuse(f"cannot read it: {exc.strerror or exc}", None)
            return {}
        else:
            block = persisted.get("load_error")
            if block is None:
                self.refusal = None
                self.engine.state_error = ""
                return persisted
            self.refusal = dict(block)
            self.engine.state_error = self.refusal_text()
            log.error("%s", self.engine.state_error)
            return persisted
        kept: str | None = None
        try:
            kept = str(self.state.keep_aside())
        except OSError as exc:
            log.error("cannot keep %s aside: %s", path, exc.strerror or exc)
        self.refuse(problem, kept)
        return {}

    def refuse(self, problem: str, kept: str | None) -> None:
        self.refusal = {"kept_aside": kept or "", "message": problem,
                        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self.engine.state_error = self.refusal_text()
        log.error("%s", self.engine.state_error)
        self.save()  # a restart must refuse too: the refusal is in the new file

    def refusal_text(self) -> str:
        r = self.refusal or {}
        path = self.state.path
        where = (f"it was kept aside as {r['kept_aside']}" if r.get("kept_aside")
                 else "it was left in place")
        return (f"the state file {path} could not be loaded: {r.get('message')}; {where}. "
                f"ipmpd started with no groups and refuses changes until the operator "
                f"acts: put a corrected file at {path} and send ipmpd SIGHUP (or restart "
                f"it), or run 'ipmpadm accept-empty-state' to go on without it")

    def accept_empty(self) -> str:
        """The operator's decision: go on with what the daemon runs now (no groups),
        leaving the kept-aside file where it is."""
        if self.refusal is None:
            raise EngineError(errors.INVALID, "the state file was loaded: nothing to accept")
        kept = self.refusal.get("kept_aside") or str(self.state.path)
        if not self.refusal.get("kept_aside"):
            raise EngineError(errors.INVALID, f"{kept} could not be read and is still in "
                              "place: move it away first, then send ipmpd SIGHUP")
        self.refusal = None
        self.engine.state_error = ""
        self.save()
        log.warning("the operator accepted starting without the state file kept aside as "
                    "%s; changes are accepted again", kept)
        return kept

    def keep_saved(self, key: str, saved: dict[str, str]) -> None:
        """Keep the oldest values: those are what the interface had before we came."""
        self.saved_sysctls[key] = {**saved, **self.saved_sysctls.get(key, {})}

    def save(self) -> None:
        data = self.engine.config()
        # a copy: save_done compares what was written with what is current
        data["saved_sysctls"] = {k: dict(v) for k, v in self.saved_sysctls.items()}
        if self.pending_removals:
            data["pending_removals"] = self.pending_removals
        if self.refusal is not None:
            if not self.refusal.get("kept_aside"):
                return  # the file that could not be read is still there: never write over it
            data["load_error"] = self.refusal
        try:
            self.state.save(data)
        except OSError as exc:
            log.error("cannot save the configuration to %s: %s", self.state.path, exc)
            return
        self.intent_saved = data

    def write_intent(self, actions: list[Action]) -> None:
        """Write-ahead: a batch that changes the configuration has it saved before the
        kernel is touched, with the addresses it is about to remove (the journal). A
        SIGKILL anywhere in the batch then leaves every address the kernel has known:
        added ones are in the configuration already (adopted at start), removed ones
        are in the journal (removed at start unless configured again)."""
        self.intent_saved = None
        if not any(isinstance(a, ConfigChanged) for a in actions):
            return
        removals: list[dict[str, str]] = []
        for action in actions:
            if type(action) is UnbindAddress:  # not RemoveOldCopy: the address stays ours
                removals.append({"interface": action.member, "address": str(action.address)})
            elif isinstance(action, SetTestAddresses):
                removals += [{"interface": action.member, "address": str(a)}
                             for a in action.remove]
        self.pending_removals = [*self.pending_removals, *removals]
        self.save()

    def save_done(self) -> None:
        """After a batch: clear the journal, and save again only if something changed
        since the intent was written (one write per change in the usual case)."""
        written = self.intent_saved
        self.intent_saved = None
        if self.pending_removals:
            self.pending_removals = []
        elif written is not None and written == {**self.engine.config(),
                                                 "saved_sysctls": self.saved_sysctls,
                                                 **({"load_error": self.refusal}
                                                    if self.refusal else {})}:
            return
        self.save()
