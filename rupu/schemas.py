"""Checking that a JSON Schema a user wrote is one: agents' `outputSchema` and workflows'
`output.schema` are checked at load, with the draft the runtime validates with (the schema's
`$schema`, else the newest), so a broken schema never reaches a provider."""

from __future__ import annotations

from typing import Any

from rupu.errors import ConfigError, Location


def check_schema(schema: Any, *, location: Location, field: str) -> dict[str, Any]:
    """A usable JSON Schema, or a `ConfigError` at `location` saying what is wrong with it."""
    import jsonschema

    if not isinstance(schema, dict):
        raise ConfigError(
            "a JSON Schema must be a mapping (e.g. {type: object, properties: ...})",
            location=location,
            field=field,
        )
    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        raise ConfigError(
            f"invalid JSON Schema{' at /' + where if where else ''}: {exc.message}",
            location=location,
            field=field,
        ) from None
    except RecursionError:
        raise ConfigError(
            "the JSON Schema is nested too deeply to check", location=location, field=field
        ) from None
    return schema
