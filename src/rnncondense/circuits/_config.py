"""Validated circuit configurations and their construction from command-line strings.

Every circuit has a frozen, strict pydantic config whose field descriptions are the help text of the
command-line parameters. `config_from_overrides` turns strings such as ``{"D1": "0", "n": "300"}``
into a validated config; a bad name or value raises `ConfigError` with one line naming the circuit,
the parameter, the value and what is allowed.
"""

from __future__ import annotations

import ast
import math
import types
import typing
from typing import Any, Literal, Mapping, TypeVar

from pydantic import ValidationError

from rnncondense.errors import ConfigError, shown
from rnncondense.validation import Strict, format_validation_error

__all__ = ["CircuitConfig", "config_from_overrides", "describe_parameters"]


class CircuitConfig(Strict):
    """Base of every circuit config: frozen, strict, unknown fields rejected."""


ConfigT = TypeVar("ConfigT", bound=CircuitConfig)

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _resolve_name(config_cls: type[CircuitConfig], name: str, circuit: str) -> str:
    """The field `name` refers to: exact, else case-insensitive with '-' read as '_'."""
    fields = config_cls.model_fields
    if name in fields:
        return name
    wanted = name.strip().lstrip("-").replace("-", "_").lower()
    matches = [field for field in fields if field.lower() == wanted]
    if len(matches) == 1:
        return matches[0]
    raise ConfigError(
        f"circuit '{circuit}' has no parameter '{name}'; allowed: {', '.join(sorted(fields, key=str.lower))}"
    )


def _plain(value: Any) -> Any:
    """Tuples (as literal_eval returns them) become lists, recursively."""
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _parse(text: str, annotation: Any, circuit: str, field: str) -> Any:
    """Convert one command-line string to the Python type the field expects."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _parse(text, typing.get_args(annotation)[0], circuit, field)
    if origin in (typing.Union, types.UnionType):
        arms = [arm for arm in typing.get_args(annotation) if arm is not type(None)]
        if text.strip().lower() in {"none", "null"} and len(arms) < len(typing.get_args(annotation)):
            return None
        return _parse(text, arms[0], circuit, field)
    stripped = text.strip()
    prefix = f"circuit '{circuit}': {field} = {shown(text)} is not allowed:"
    if annotation is bool:
        lowered = stripped.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigError(f"{prefix} expected true or false")
    if annotation is int:
        try:
            return int(stripped)
        except ValueError:
            raise ConfigError(f"{prefix} expected an integer") from None
    if annotation is float:
        try:
            value = float(stripped)
        except ValueError:
            raise ConfigError(f"{prefix} expected a number") from None
        if not math.isfinite(value):
            raise ConfigError(f"{prefix} expected a finite number")
        return value
    if origin is list or annotation is list:
        try:
            value = ast.literal_eval(stripped)
        except (ValueError, SyntaxError):
            raise ConfigError(f"{prefix} expected a list such as [[0, 0.8], [0.8, 0]]") from None
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{prefix} expected a list such as [[0, 0.8], [0.8, 0]]")
        return _plain(value)
    if origin is Literal:
        return stripped
    return text


def config_from_overrides(
    config_cls: type[ConfigT], overrides: Mapping[str, Any] | None, *, circuit: str
) -> ConfigT:
    """Build `config_cls` from defaults plus `overrides` (strings from a command line, or values).

    Raises:
        ConfigError: unknown parameter (the message lists the allowed ones) or a value that is not
            allowed (the message names the parameter, the value and the rule).
    """
    values: dict[str, Any] = {}
    for name, raw in (overrides or {}).items():
        field = _resolve_name(config_cls, str(name), circuit)
        annotation = config_cls.model_fields[field].annotation
        values[field] = _parse(raw, annotation, circuit, field) if isinstance(raw, str) else raw
    try:
        return config_cls.model_validate(values)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, f"circuit '{circuit}'", config_cls)) from None


def describe_parameters(config_cls: type[CircuitConfig]) -> dict[str, dict[str, Any]]:
    """Name -> {default, description} of every parameter, for command-line help."""
    described = {}
    for name, field in config_cls.model_fields.items():
        default = field.get_default(call_default_factory=True)
        described[name] = {"default": default, "description": field.description or ""}
    return described
