"""Workflow inputs: `--input k=v` strings turned into the declared types, defaults applied, enums and
required inputs enforced. Templates see the typed values (`inputs.count` is an int, not "3")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rupu.errors import UsageError, did_you_mean
from rupu.workflows.spec import InputSpec, check_value

TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})


def parse_assignments(pairs: Sequence[str]) -> dict[str, str]:
    """`["a=1", "b=x=y"]` -> `{"a": "1", "b": "x=y"}`."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(
                f"--input {pair!r} is not KEY=VALUE", hint="write it as --input name=value"
            )
        out[name.strip()] = value
    return out


def coerce(name: str, spec: InputSpec, raw: str) -> Any:
    """A command-line string as the declared type, or a `UsageError` saying what was expected."""
    kind = spec.type
    value: Any
    try:
        if kind == "string":
            value = raw
        elif kind == "int":
            value = int(raw.strip())
        elif kind == "number":
            value = float(raw.strip())
        elif kind == "bool":
            word = raw.strip().lower()
            if word not in TRUE_WORDS | FALSE_WORDS:
                raise ValueError
            value = word in TRUE_WORDS
        else:
            value = _parse_list(raw)
    except ValueError:
        expected = {
            "int": "a whole number",
            "number": "a number",
            "bool": "true/false, yes/no, on/off or 1/0",
            "list": 'a JSON array (["a","b"]) or comma-separated values',
        }.get(kind, kind)
        raise UsageError(
            f"input '{name}' must be {expected} (got {raw!r})", hint=f"pass --input {name}=..."
        ) from None
    _check_enum(name, spec, value)
    return value


def _parse_list(raw: str) -> list[Any]:
    text = raw.strip()
    if text.startswith("["):
        import orjson

        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise ValueError from None
        if not isinstance(parsed, list):
            raise ValueError
        return parsed
    return [part.strip() for part in text.split(",") if part.strip()]


def _check_enum(name: str, spec: InputSpec, value: Any) -> None:
    if spec.enum is not None and value not in spec.enum:
        choices = ", ".join(str(c) for c in spec.enum)
        raise UsageError(
            f"input '{name}' must be one of {choices} (got {value!r})",
            hint=f"pass --input {name}=<one of: {choices}>",
        )


def resolve_inputs(declared: Mapping[str, InputSpec], given: Mapping[str, Any]) -> dict[str, Any]:
    """The typed input values for a run. `given` holds raw strings from the command line or already
    typed values (from a stored run)."""
    unknown = [k for k in given if k not in declared]
    if unknown:
        name = unknown[0]
        known = ", ".join(sorted(declared)) or "none"
        raise UsageError(
            f"unknown input '{name}'{did_you_mean(name, declared)}",
            hint=f"this workflow declares these inputs: {known}",
        )
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        if name in given:
            raw = given[name]
            values[name] = coerce(name, spec, raw) if isinstance(raw, str) else raw
            if not isinstance(raw, str):
                check_typed(name, spec, raw)
        elif spec.default is not None:
            values[name] = spec.default
        elif spec.required:
            raise UsageError(
                f"missing required input '{name}'"
                + (f" ({spec.description})" if spec.description else ""),
                hint=f"pass --input {name}=...",
            )
        else:
            values[name] = None
    return values


def check_typed(name: str, spec: InputSpec, value: Any) -> None:
    try:
        check_value(spec.type, value, what=f"input '{name}'")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    _check_enum(name, spec, value)
