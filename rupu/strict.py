"""Strict pydantic models for every file format, and the translation of their validation errors into
one-line `ConfigError`s that name file:line, the field and the nearest valid key."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from rupu.errors import ConfigError, Location, did_you_mean

LineFinder = Callable[[Sequence[str | int]], int | None]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _field_names(model: type[BaseModel], path: Sequence[str | int]) -> list[str]:
    """The valid keys (aliases as users write them) of the model that holds `path[-1]`."""
    current: Any = model
    for part in path[:-1]:
        if isinstance(part, int) or not (
            isinstance(current, type) and issubclass(current, BaseModel)
        ):
            current = _inner_model(current)
            if isinstance(part, int):
                continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field = _lookup_field(current, part)
        if field is None:
            current = _inner_model(current)
            continue
        current = _inner_model(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items()]
    return []


def _lookup_field(model: type[BaseModel], key: str) -> Any:
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return field
    return None


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def validation_to_config_error(
    error: ValidationError,
    model: type[BaseModel],
    *,
    path: str,
    find_line: LineFinder,
    what: str = "key",
) -> ConfigError:
    """The first validation error as one line, e.g. `agents/x.md:4: unknown key 'maxTurn'
    (did you mean 'maxTurns'?)`."""
    first = error.errors()[0]
    loc = [p for p in first["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
    dotted = ".".join(str(p) for p in loc) or "(top level)"
    line = find_line(loc) if loc else None
    location = Location(path, line)
    if first["type"] == "extra_forbidden":
        key = str(loc[-1])
        suggestion = did_you_mean(key, _field_names(model, loc))
        valid = ", ".join(sorted(_field_names(model, loc)))
        return ConfigError(
            f"unknown {what} '{dotted}'{suggestion}",
            location=location,
            field=dotted,
            hint=None if suggestion else f"valid keys: {valid}",
        )
    if first["type"] == "missing":
        return ConfigError(f"missing required {what} '{dotted}'", location=location, field=dotted)
    message = first["msg"]
    if first["type"] == "value_error":  # our own validators' words, without pydantic's prefix
        message = str(first.get("ctx", {}).get("error", message))
    if first["type"] == "literal_error":
        expected = first.get("ctx", {}).get("expected", "")
        message = f"must be one of {expected}"
    got = first.get("input")
    secretish = any(w in dotted.lower() for w in ("key", "token", "secret", "password"))
    short = isinstance(got, str | int | float | bool) and len(repr(got)) < 60
    shown = f" (got {got!r})" if short and not secretish else ""
    return ConfigError(
        f"invalid value for '{dotted}': {message}{shown}", location=location, field=dotted
    )
