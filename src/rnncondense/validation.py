"""The one strict base of every settings model, its shared field types, and the one formatter
that turns a pydantic error into the line a user sees: source, field, value and what is allowed.

Every settings model (run configs, tasks, condensation, study plans, circuits) derives from
`Strict`: fields have exactly the declared types (no silent "1" -> 1), unknown fields are
refused, and a validated value never changes.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rnncondense.errors import shown

__all__ = ["Strict", "PositiveFloat", "NonNegativeFloat", "format_validation_error"]


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]


def _allowed_fields(model: type[BaseModel], loc: tuple) -> list[str]:
    for part in loc[:-1]:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return []
        model = field.annotation
    return sorted(model.model_fields)


def _printable(text: str) -> str:
    """`text` with control characters (a newline in a TOML key, say) written as escapes."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def format_validation_error(error: ValidationError, source: str, model: type[BaseModel]) -> str:
    """One line for the first problem: source, field, value and what is allowed."""
    first = error.errors(include_url=False)[0]
    loc = tuple(first["loc"])
    field = _printable(".".join(str(p) for p in loc)) or "(top level)"
    if first["type"] == "extra_forbidden":
        allowed = ", ".join(_allowed_fields(model, loc))
        return f"{source}: unknown field '{field}'; allowed here: {allowed}"
    message = _printable(first["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if not loc or isinstance(first["input"], dict):  # a check across fields names them itself
        return f"{source}: {message}"
    return f"{source}: {field} = {shown(first['input'])} is not allowed: {message}"
