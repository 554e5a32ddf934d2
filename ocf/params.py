"""Typed agent parameters: one declaration gives meta-data, docs and parsing.

A ``Parameter`` is read from ``OCF_RESKEY_<name>``. Anything wrong with the value in
itself (missing when required, not of its type, not one of its choices, refused by its
validator) is ``OCF_ERR_CONFIGURED``, and Pacemaker then stops the resource on every
node. That is right only for faults in the configuration, never for the state of the
host: validators must look at the value alone (is it a valid interface *name*), not at
the machine (does the interface exist here), or one missing NIC stops the resource
cluster-wide. Host checks belong in the handlers and return 1, 2, 5 or 7.

An empty value counts as unset, as in the shell agents' ``[ -z "$OCF_RESKEY_x" ]``:
``crm_resource --option x=`` passes an empty string, and a required parameter set to
nothing is as missing as an absent one.

Standard library only: this module is on the monitor path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from ocf.codes import OCFCode, OCFError

TYPES = ("string", "integer", "boolean", "select")
ENV_PREFIX = "OCF_RESKEY_"

_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_INTEGER = re.compile(r"[+-]?[0-9]+\Z")

#: Names under OCF_RESKEY_ that are not instance parameters.
# Pacemaker's own keys in the OCF_RESKEY_ namespace (meta attributes, the CIB feature set
# crm_resource passes), never an agent's parameter.
_NOT_PARAMETERS = ("CRM_meta_", "OCF_CHECK_LEVEL", "crm_feature_set")

Value = str | int | bool
Validator = Callable[[Value], object]


def parse_boolean(text: str) -> bool:
    """An OCF boolean: true/false, yes/no, 1/0, on/off in any case (ocf_is_true)."""
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError("not a boolean (true/false, yes/no, 1/0, on/off)")


def check_choice(what: str, value: str, allowed: tuple[str, ...]) -> None:
    """A declaration check (Parameter, ActionSpec, Agent): refuse ``value`` unless it is
    one of ``allowed``. Declarations run when an agent module is imported, so the
    ValueError stops a wrong one in development, long before a cluster sees it."""
    if value not in allowed:
        raise ValueError(f"{what} {value!r} is not one of {allowed}")


def check_seconds(what: str, value: object, minimum: int) -> None:
    """A declaration check: refuse ``value`` unless it is a whole number of seconds of at
    least ``minimum`` (the meta-data writes it as "<n>s")."""
    if not isinstance(value, int) or value < minimum:
        raise ValueError(f"{what} must be a whole number of seconds >= {minimum}")


def format_value(value: Value) -> str:
    """A typed value as the cluster configuration would spell it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def show(raw: str, limit: int = 60) -> str:
    """A raw value quoted for a one-line exit reason (newlines escaped, long ones cut)."""
    text = repr(raw)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


class Parameter:
    """One instance parameter of an agent.

    ``type`` is string, integer, boolean or select (``choices`` lists the values).
    ``default`` is given as a typed value (``5``, ``True``, ``"eth0"``) and is checked
    against the declaration at once, so a wrong default fails when the agent module is
    imported, not in production. ``validator`` gets the typed value and refuses it by
    returning False or raising ``ValueError("why")`` (the message goes into the exit
    reason); any other outcome, None included, accepts it, so both predicate-style and
    raise-style checks work. ``unique_group``: parameters sharing a group name must not repeat the
    same combination of values across resources of this agent (OCF 1.1).
    ``reloadable``: a change can be applied by ``reload-agent`` without a restart.
    """

    __slots__ = (
        "name", "type", "shortdesc", "longdesc", "default", "required",
        "unique_group", "reloadable", "validator", "choices",
    )

    def __init__(
        self,
        name: str,
        type: str = "string",
        shortdesc: str = "",
        longdesc: str = "",
        *,
        default: Value | None = None,
        required: bool = False,
        unique_group: str | None = None,
        reloadable: bool = False,
        validator: Validator | None = None,
        choices: Iterable[str] = (),
    ) -> None:
        if not _NAME.match(name):
            raise ValueError(f"parameter name {name!r} cannot be an environment variable")
        check_choice(f"parameter {name!r}: type", type, TYPES)
        self.name = name
        self.type = type
        self.shortdesc = shortdesc
        self.longdesc = longdesc
        self.required = required
        self.unique_group = unique_group
        self.reloadable = reloadable
        self.validator = validator
        self.choices: tuple[str, ...] = tuple(choices)
        if (type == "select") != bool(self.choices):
            raise ValueError(f"parameter {name!r}: choices go with type 'select' only")
        self.default: Value | None = None
        if default is not None:
            self.default = self._check_default(default)

    def _check_default(self, default: Value) -> Value:
        """Run the default through the same checks as a configured value."""
        try:
            value = self.convert(format_value(default))
            self._validate(value)
        except ValueError as err:
            raise ValueError(f"parameter {self.name!r}: bad default {default!r}: {err}") from None
        return value

    def convert(self, raw: str) -> Value:
        """The typed value of ``raw``; ValueError (without the name) if it has none."""
        if self.type == "integer":
            if not _INTEGER.match(raw.strip()):
                raise ValueError("not an integer")
            return int(raw.strip())
        if self.type == "boolean":
            return parse_boolean(raw)
        if self.type == "select" and raw not in self.choices:
            raise ValueError("not one of " + ", ".join(self.choices))
        return raw

    def _validate(self, value: Value) -> None:
        if self.validator is None:
            return
        if self.validator(value) is False:
            raise ValueError("not accepted")

    def parse(self, raw: str, validate: bool = True) -> Value:
        """Convert (and validate) ``raw`` or raise OCFError(OCF_ERR_CONFIGURED)."""
        try:
            value = self.convert(raw)
            if validate:
                self._validate(value)
        except ValueError as err:
            raise OCFError(
                OCFCode.ERR_CONFIGURED,
                f"parameter '{self.name}' has invalid value {show(raw)}: {err}",
            ) from None
        return value

    def __repr__(self) -> str:
        return f"Parameter({self.name!r}, {self.type!r})"


def parse_params(parameters: Iterable[Parameter],
                 environ: Mapping[str, str], validate: bool = True
                 ) -> dict[str, Value | None]:
    """Typed values of all ``parameters`` from ``environ`` (defaults for unset ones);
    ``validate=False`` checks presence and types but skips the validators.

    Stops at the first bad parameter, in declaration order: the exit reason is one line
    and names one parameter, and fixing them one by one is what an operator does anyway.
    """
    values: dict[str, Value | None] = {}
    for param in parameters:
        raw = environ.get(ENV_PREFIX + param.name, "")
        if raw == "":
            if param.required:
                raise OCFError(
                    OCFCode.ERR_CONFIGURED,
                    f"required parameter '{param.name}' is not set",
                )
            values[param.name] = param.default
        else:
            values[param.name] = param.parse(raw, validate)
    return values


def unknown_params(parameters: Iterable[Parameter], environ: Mapping[str, str]) -> list[str]:
    """OCF_RESKEY_* names that no parameter declares (typos worth a warning)."""
    known = {param.name for param in parameters}
    found = []
    for key in environ:
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX):]
        if name not in known and not name.startswith(_NOT_PARAMETERS):
            found.append(name)
    return sorted(found)
