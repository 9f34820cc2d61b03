"""Regenerates rupu's baked-in model catalog (`rupu/modeldata/data/<provider>.json`) from the maintained
source file `rupu/modeldata/source/models.yaml`.

    python scripts/gen_catalog.py           # rewrite the JSON files
    python scripts/gen_catalog.py --check   # exit 1 and name the files that are out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Literal

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "rupu" / "modeldata" / "source" / "models.yaml"
DATA = ROOT / "rupu" / "modeldata" / "data"
SOURCE_NAME = "rupu/modeldata/source/models.yaml"
Capability = Literal["tools", "reasoning", "images"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourcePrice(_Strict):
    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_read: float | None = Field(default=None, ge=0)
    cache_write: float | None = Field(default=None, ge=0)


class SourceDefaults(_Strict):
    context: int | None = Field(default=None, gt=0)
    max_output: int | None = Field(default=None, gt=0)
    caps: list[Capability] | None = None
    price: SourcePrice | None = None


class SourceModel(SourceDefaults):
    id: str = Field(min_length=1)
    name: str | None = None
    aliases: list[str] = Field(default_factory=list)


class SourceProvider(_Strict):
    note: str | None = None
    open: bool = False
    priced: bool = True
    defaults: SourceDefaults = Field(default_factory=SourceDefaults)
    models: list[SourceModel]


def render(source: dict[str, Any]) -> dict[str, bytes]:
    """File name -> the exact bytes of each generated JSON file."""
    out: dict[str, bytes] = {}
    for provider, raw in source.items():
        spec = SourceProvider.model_validate(raw)
        seen: set[str] = set()
        models = []
        for model in spec.models:
            for name in (model.id, *model.aliases):
                if name in seen:
                    raise SystemExit(f"{provider}: model id or alias '{name}' appears twice")
                seen.add(name)
            price = model.price or spec.defaults.price
            if price is None and spec.priced:
                raise SystemExit(f"{provider}/{model.id}: no price (set `price` or a default)")
            caps = model.caps if model.caps is not None else (spec.defaults.caps or [])
            models.append(
                {
                    "id": model.id,
                    "name": model.name,
                    "aliases": model.aliases,
                    "context_window": model.context or spec.defaults.context,
                    "max_output": model.max_output or spec.defaults.max_output,
                    "prices": {
                        "input": price.input,
                        "output": price.output,
                        "cache_read": price.input if price.cache_read is None else price.cache_read,
                        "cache_write": price.input
                        if price.cache_write is None
                        else price.cache_write,
                    }
                    if price is not None
                    else None,
                    "capabilities": {cap: cap in caps for cap in ("tools", "reasoning", "images")},
                }
            )
        document = {
            "provider": provider,
            "generated_from": SOURCE_NAME,
            "open": spec.open,
            "priced": spec.priced,
            "note": spec.note,
            "models": models,
        }
        out[f"{provider}.json"] = orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"
    return out


def load_source(path: Path = SOURCE) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: expected a mapping of provider -> models")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report out-of-date files")
    args = parser.parse_args(argv)
    try:
        wanted = render(load_source())
    except ValidationError as exc:
        print(f"{SOURCE_NAME}: {exc}", file=sys.stderr)
        return 2
    existing = {p.name for p in DATA.glob("*.json")}
    stale = sorted(
        name
        for name, data in wanted.items()
        if not (DATA / name).is_file() or (DATA / name).read_bytes() != data
    )
    extra = sorted(existing - set(wanted))
    if args.check:
        for name in [*stale, *extra]:
            print(f"out of date: rupu/modeldata/data/{name}", file=sys.stderr)
        if stale or extra:
            print("run `python scripts/gen_catalog.py` to regenerate", file=sys.stderr)
            return 1
        return 0
    DATA.mkdir(parents=True, exist_ok=True)
    for name in stale:
        (DATA / name).write_bytes(wanted[name])
        print(f"wrote rupu/modeldata/data/{name}")
    for name in extra:
        (DATA / name).unlink()
        print(f"removed rupu/modeldata/data/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
