"""Shell completion values: agent, workflow, provider and model names, run and transcript ids.

A shell asks on every Tab, so each lookup reads only file names and a few bytes of each file (an
agent's `name:` and `description:` from its frontmatter, model ids from the baked-in catalog and the
refreshed lists). Nothing here validates a file or touches the network; a file rupu cannot read is
skipped, never reported: the command itself reports it when it runs.
"""

# lazy imports: completion runs on every Tab; only what a lookup needs is imported
from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import click
from click.shell_completion import CompletionItem

from rupu.paths import Paths

HEAD_BYTES = 4096
WORKFLOW_SUFFIXES = (".yaml", ".yml")
_FRONT_KEY = re.compile(r"^(name|description):[ \t]*(.*?)[ \t]*$", re.MULTILINE)
_PACKAGE = Path(__file__).resolve().parent.parent


def _paths() -> Paths:
    return Paths.discover(os.environ, Path.cwd())


def _items(pairs: Iterator[tuple[str, str | None]], incomplete: str) -> list[CompletionItem]:
    seen: dict[str, str | None] = {}
    for value, help_text in pairs:
        if value.startswith(incomplete) and value not in seen:
            seen[value] = help_text
    return [CompletionItem(value, help=help_text) for value, help_text in seen.items()]


def _looks_like_path(incomplete: str) -> bool:
    return "/" in incomplete or incomplete.startswith(("~", "."))


def _unquoted(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _frontmatter(path: Path) -> dict[str, str]:
    try:
        with path.open("rb") as handle:
            head = handle.read(HEAD_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return {}
    if not head.startswith("---"):
        return {}
    block = head.split("\n---", 1)[0]
    return {key: _unquoted(value) for key, value in _FRONT_KEY.findall(block)}


def _agents(paths: Paths) -> Iterator[tuple[str, str | None]]:
    for _, directory in reversed(paths.agent_dirs()):  # the project's first: it shadows
        try:
            files = sorted(directory.glob("*.md"))
        except OSError:
            continue
        for file in files:
            front = _frontmatter(file)
            yield front.get("name") or file.stem, front.get("description")


def agent_names(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    if _looks_like_path(incomplete):
        return [CompletionItem(incomplete, type="file")]
    return _items(_agents(_paths()), incomplete)


def workflow_names(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    if _looks_like_path(incomplete):
        return [CompletionItem(incomplete, type="file")]
    paths = _paths()

    def found() -> Iterator[tuple[str, str | None]]:
        for scope, directory in reversed(paths.workflow_dirs()):
            try:
                files = sorted(directory.iterdir())
            except OSError:
                continue
            for file in files:
                if file.suffix in WORKFLOW_SUFFIXES:
                    yield file.stem, f"{scope} workflow"

    return _items(found(), incomplete)


def _toml_tables(path: Path | None) -> dict[str, object]:
    if path is None:
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}


def _provider_names(paths: Paths) -> Iterator[tuple[str, str | None]]:
    for name in _toml_tables(_PACKAGE / "config" / "builtins.toml"):
        yield name, "built-in"
    for name in _toml_tables(_PACKAGE / "config" / "presets.toml"):
        yield name, "preset"
    for config in (paths.project_config, paths.global_config):
        providers = _toml_tables(config).get("providers")
        if isinstance(providers, dict):
            for name in providers:
                yield str(name), "from config"


def provider_names(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    return _items(_provider_names(_paths()), incomplete)


def _model_ids(files: list[Path], provider: str | None) -> Iterator[tuple[str, str | None]]:
    import orjson  # lazy: only model completion reads the catalog

    for file in files:
        try:
            data = orjson.loads(file.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        if not isinstance(data, dict):
            continue
        owner = str(data.get("provider") or file.stem)
        if provider is not None and owner != provider:
            continue
        for model in data.get("models") or []:
            if isinstance(model, dict) and isinstance(model.get("id"), str):
                yield model["id"], owner


def model_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Model ids of `--provider` when it was given, else of every catalogued provider."""
    provider = ctx.params.get("provider")
    files = sorted((_PACKAGE / "modeldata" / "data").glob("*.json"))
    files += sorted((_paths().cache / "models").glob("*.json"))
    return _items(_model_ids(files, provider if isinstance(provider, str) else None), incomplete)


def fallback_targets(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """`PROVIDER:MODEL`: provider names until a colon is typed, then that provider's models."""
    if ":" not in incomplete:
        return [
            CompletionItem(f"{item.value}:", help=item.help)
            for item in provider_names(ctx, param, incomplete)
        ]
    provider, _, partial = incomplete.partition(":")
    files = sorted((_PACKAGE / "modeldata" / "data").glob("*.json"))
    files += sorted((_paths().cache / "models").glob("*.json"))
    return [
        CompletionItem(f"{provider}:{item.value}")
        for item in _items(_model_ids(files, provider), partial)
    ]


def _newest_first(directory: Path, *, suffix: str | None) -> list[str]:
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return []
    names = []
    for entry in entries:
        if not entry.name.startswith("run_"):
            continue
        if suffix is None and entry.is_dir():
            names.append(entry.name)
        elif suffix is not None and entry.name.endswith(suffix):
            names.append(entry.name[: -len(suffix)])
    return sorted(names, reverse=True)  # ULIDs sort by time


def run_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    names = _newest_first(_paths().runs, suffix=None)
    return _items(((n, None) for n in names), incomplete)


def transcript_ids(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    names = _newest_first(_paths().transcripts, suffix=".jsonl")
    return _items(((n, None) for n in names), incomplete)
