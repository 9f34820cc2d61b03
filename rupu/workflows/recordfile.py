"""Reading one JSON record of a run (`run.json`, `state.json`, `steps/<id>.json`): the object rupu
wrote, with its fields of the right types, or a one-line `ConfigError` naming the file. A damaged
record stops only the commands that need that run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from rupu.errors import ConfigError, Location

Fields = dict[str, tuple[tuple[type, ...], bool]]

_NUMBER = (int, float)
_OPTIONAL_TEXT = (str, type(None))
# Each record's checked fields: name -> (accepted types, required).
RUN_FIELDS: Fields = {
    "run_id": ((str,), True),
    "workflow": ((str,), True),
    "created": (_NUMBER, True),
    "steps": ((list,), True),
    "format": ((int,), False),
    "source": ((str,), False),
    "inputs": ((dict,), False),
    "overrides": ((dict,), False),
}
STATE_FIELDS: Fields = {
    "status": ((str,), True),
    "tokens": ((int,), False),
    "duration_ms": (_NUMBER, False),
    "error": (_OPTIONAL_TEXT, False),
    "failed": ((list,), False),
    "awaiting_approval": ((list,), False),
}
STEP_FIELDS: Fields = {
    "status": ((str,), True),
    "error": (_OPTIONAL_TEXT, False),
    "prompt": (_OPTIONAL_TEXT, False),
}


def damaged(path: Path, reason: str) -> ConfigError:
    run = next((p for p in path.parents if p.name.startswith("run_")), path.parent)
    return ConfigError(
        f"damaged run record: {reason}",
        location=Location(str(path)),
        hint=f"this run cannot be shown or resumed until the file is restored (or `rm -r {run}`); "
        "other runs are unaffected",
    )


def read_record(path: Path, fields: Fields | None = None) -> dict[str, Any]:
    """The JSON object in one run record file, with `fields` of the right types; anything else is
    a one-line `ConfigError` naming the file."""
    try:
        value = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise damaged(path, f"cannot read it: {exc.strerror or type(exc).__name__}") from None
    except orjson.JSONDecodeError as exc:
        raise damaged(path, f"not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise damaged(path, f"not a JSON object (a {type(value).__name__})")
    wrong = [
        name
        for name, (types, required) in (fields or {}).items()
        if (name in value or required)
        and (not isinstance(value.get(name), types) or isinstance(value.get(name), bool))
    ]
    if wrong:
        raise damaged(path, f"missing or wrong {', '.join(wrong)}")
    return value


def read_events(path: Path, *, key: str = "type") -> Iterator[dict[str, Any]]:
    """Well-formed lines only (objects with a string `key`): torn or corrupt lines are skipped."""
    if not path.exists():
        return
    with path.open("rb") as handle:
        for raw in handle:
            try:
                event = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(event, dict) and isinstance(event.get(key), str):
                yield event
