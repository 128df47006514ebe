"""The one strict base of every settings model, its shared field types, and the one formatter
that turns a pydantic error into the line a user sees: source, field, value and what is allowed.

Every settings model (run configs, tasks, condensation, study plans, circuits) derives from
`Strict`: fields have exactly the declared types (no silent "1" -> 1), unknown fields are
refused, and a validated value never changes.
"""

from __future__ import annotations

from typing import Annotated, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rnncondense.errors import shown

__all__ = ["Strict", "PositiveFloat", "NonNegativeFloat", "format_validation_error"]


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]


Unions = Mapping[str, Mapping[str, type[BaseModel]]]  # field -> {tag: model} of a tagged union


def _allowed_fields(model: type[BaseModel], loc: tuple, unions: Unions) -> list[str]:
    parts = list(loc[:-1])
    while parts:
        part = parts.pop(0)
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if part in unions and parts and parts[0] in unions[part]:
            model = unions[part][parts.pop(0)]  # the union member chosen by its tag
            continue
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return []
        model = field.annotation
    return sorted(model.model_fields)


def _without_tags(loc: tuple, unions: Unions) -> tuple:
    """The location without the union tag pydantic inserts after a union field (task.cue_set_go.dt_ms -> task.dt_ms)."""
    if len(loc) > 1 and loc[0] in unions and loc[1] in unions[loc[0]]:
        return loc[:1] + loc[2:]
    return loc


def _printable(text: str) -> str:
    """`text` with control characters (a newline in a TOML key, say) written as escapes."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def format_validation_error(error: ValidationError, source: str, model: type[BaseModel], *, unions: Unions = {}) -> str:
    """One line for the first problem: source, field, value and what is allowed.

    `unions` names the tagged unions of `model` (field -> {tag: member model}, chosen by the
    member's `name`), so that their members' fields are named as the user wrote them.
    """
    first = error.errors(include_url=False)[0]
    loc = tuple(first["loc"])
    if first["type"] in ("union_tag_invalid", "union_tag_not_found") and len(loc) == 1 and loc[0] in unions:
        name = first["input"].get("name") if isinstance(first["input"], dict) else None
        if name is None:
            return f"{source}: {loc[0]} = {shown(first['input'])} is not allowed: expected a table of settings"
        return f"{source}: {loc[0]}.name = {shown(name)} is not allowed: choose one of {', '.join(unions[loc[0]])}"
    field = _printable(".".join(str(p) for p in _without_tags(loc, unions))) or "(top level)"
    if first["type"] == "extra_forbidden":
        allowed = ", ".join(_allowed_fields(model, loc, unions))
        return f"{source}: unknown field '{field}'; allowed here: {allowed}"
    if first["type"] == "missing":
        return f"{source}: {field} is required here"
    message = _printable(first["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if not loc or isinstance(first["input"], dict):  # a check across fields names them itself
        return f"{source}: {message}"
    return f"{source}: {field} = {shown(first['input'])} is not allowed: {message}"
