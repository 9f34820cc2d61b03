"""Structured outputs: pulling JSON out of a model's answer and checking it against a JSON Schema.

The answer is read as JSON in this order: the whole text, then each fenced code block, then the first
balanced `{...}` or `[...]` that parses. A failure gives one corrective re-prompt listing the first
schema errors; the step fails if the second answer does not fit either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from rupu.errors import ConfigError, Location
from rupu.schemas import check_schema
from rupu.textfiles import read_text
from rupu.yamldoc import parse_yaml

MAX_REPORTED_ERRORS = 5
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)```", re.S)
_MISSING = object()


@dataclass(frozen=True, slots=True)
class ContractResult:
    value: Any
    errors: list[str]

    @property
    def ok(self) -> bool:
        return not self.errors


def extract_json(text: str) -> Any:
    """The first JSON value found in `text` (see the module docstring), or `_MISSING`."""
    stripped = text.strip()
    if stripped:
        try:
            return orjson.loads(stripped)
        except orjson.JSONDecodeError:
            pass
    for match in _FENCE.finditer(text):
        try:
            return orjson.loads(match.group(2).strip())
        except orjson.JSONDecodeError:
            continue
    return _first_balanced(text)


def _first_balanced(text: str) -> Any:
    start = 0
    while True:
        positions = [p for p in (text.find("{", start), text.find("[", start)) if p >= 0]
        if not positions:
            return _MISSING
        begin = min(positions)
        end = _balanced_end(text, begin)
        if end is not None:
            try:
                return orjson.loads(text[begin:end])
            except orjson.JSONDecodeError:
                pass
        start = begin + 1


def _balanced_end(text: str, begin: int) -> int | None:
    """The index after the bracket closing the one at `begin`, skipping brackets inside strings."""
    depth = 0
    in_string = escaped = False
    for index in range(begin, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return index + 1
    return None


def check_output(text: str, schema: dict[str, Any] | None) -> ContractResult:
    value = extract_json(text)
    if value is _MISSING:
        return ContractResult(None, ["the answer holds no JSON value"])
    if schema is None:
        return ContractResult(value, [])
    validator = _validator(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS))
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    return ContractResult(value, [_describe(e) for e in errors[:MAX_REPORTED_ERRORS]])


@lru_cache(maxsize=64)
def _validator(schema_key: bytes) -> Any:
    import jsonschema

    schema = orjson.loads(schema_key)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def _describe(error: Any) -> str:
    where = "/".join(str(p) for p in error.absolute_path)
    return f"{'at /' + where if where else 'at the top level'}: {error.message}"


def corrective_prompt(errors: list[str], schema: dict[str, Any] | None) -> str:
    lines = "\n".join(f"- {e}" for e in errors)
    schema_text = (
        f"\nThe JSON Schema it must satisfy:\n{orjson.dumps(schema, option=orjson.OPT_INDENT_2).decode()}"
        if schema
        else ""
    )
    return (
        "Your previous answer did not match the required JSON output:\n"
        f"{lines}\n{schema_text}\n"
        "Answer again with only the corrected JSON value, no prose."
    )


def load_schema_file(
    reference: str, *, base: Path, root: Path, location: Location, field: str
) -> dict[str, Any]:
    """A schema file named relative to the workflow's directory; it must stay inside `root`."""
    candidate = Path(reference)
    if candidate.is_absolute():
        raise ConfigError(
            f"schema path '{reference}' is absolute",
            location=location,
            field=field,
            hint="name the schema file relative to the workflow file",
        )
    resolved = (base / candidate).resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise ConfigError(
            f"schema path '{reference}' leaves {root}",
            location=location,
            field=field,
            hint="keep schema files inside the project (or next to the workflow)",
        )
    if not resolved.is_file():
        raise ConfigError(
            f"schema file not found: {reference} (looked at {resolved})",
            location=location,
            field=field,
        )

    text = read_text(resolved, what="schema file")
    data, _ = parse_yaml(resolved, text)
    return check_schema(data, location=Location(str(resolved), 1), field=field)
