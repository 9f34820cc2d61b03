"""The merged model catalog of every provider: custom config entries > the live cache > baked-in.

A model is one row per canonical id; a live or custom id that is a baked-in alias (a dated snapshot)
joins that row. Field by field, the highest source that knows a value wins, so a custom entry that
only names an id keeps the baked-in context window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from rupu.catalog.pricing import ZERO, apply_override
from rupu.config import BUILTIN_PROVIDERS, LoadedConfig, ModelPrice, toml_line_finder
from rupu.config.builtins import builtin, builtin_providers
from rupu.config.presets import is_preset
from rupu.errors import ConfigError, Location, did_you_mean
from rupu.modeldata.schema import (
    Capabilities,
    LiveCache,
    ModelInfo,
    Prices,
    ProviderCatalog,
    load_baked,
    read_live,
)
from rupu.paths import Paths

Source = Literal["custom", "live", "baked-in"]
SOURCE_RANK: dict[Source, int] = {"baked-in": 0, "live": 1, "custom": 2}
# A declared provider of a native kind (a gateway in front of Anthropic, say) is priced like the
# built-in provider that speaks the same API when the model id matches.
KIND_PRICE_SOURCE = {
    record.dialect: name for name, record in builtin_providers().items() if record.dialect
}
_DATED = re.compile(r"^(?P<base>.+?)-(?:\d{8}|\d{4}-\d{2}-\d{2})$")


def _relabelled(entry: CatalogEntry, provider: str) -> CatalogEntry:
    return CatalogEntry(
        provider,
        entry.model,
        entry.source,
        entry.name,
        entry.context_window,
        entry.max_output,
        entry.prices,
        entry.capabilities,
        list(entry.aliases),
    )


def undated(model: str) -> str | None:
    """`gpt-5-2025-08-07` -> `gpt-5`; `claude-sonnet-4-6-20260101` -> `claude-sonnet-4-6`."""
    match = _DATED.match(model)
    return match.group("base") if match else None


@dataclass(slots=True)
class CatalogEntry:
    provider: str
    model: str
    source: Source
    name: str | None = None
    context_window: int | None = None
    max_output: int | None = None
    prices: Prices | None = None
    capabilities: Capabilities | None = None
    aliases: list[str] = field(default_factory=list)
    default: bool = False


class ModelCatalog:
    """Reads the baked-in data, the live caches and the config once per command."""

    def __init__(self, loaded: LoadedConfig, paths: Paths) -> None:
        self.loaded = loaded
        self.paths = paths
        self._live: dict[str, LiveCache | None] = {}
        self._entries: dict[str, list[CatalogEntry]] = {}
        check_pricing_tables(loaded)

    # -- providers ----------------------------------------------------------------------------------
    def providers(self) -> list[str]:
        """Built-in providers first (in their usual order), then the declared ones by name."""
        declared = sorted(p for p in self.loaded.config.providers if p not in BUILTIN_PROVIDERS)
        return [*BUILTIN_PROVIDERS, *declared]

    def is_declared(self, provider: str) -> bool:
        return provider not in BUILTIN_PROVIDERS

    def baked(self, provider: str) -> ProviderCatalog | None:
        return None if self.is_declared(provider) else load_baked(provider)

    def default_model(self, provider: str) -> str | None:
        """The model an agent that names none runs on: the config's, else the built-in record's."""
        configured = self.loaded.provider(provider).default_model
        if configured:
            return configured
        return None if self.is_declared(provider) else builtin(provider).default_model

    def live(self, provider: str) -> LiveCache | None:
        if provider not in self._live:
            self._live[provider] = read_live(self.paths, provider)
        return self._live[provider]

    def is_open(self, provider: str) -> bool:
        """True when any model id is accepted: the provider has no list to check against (a declared
        provider that was never refreshed) or says so itself (mock)."""
        baked = self.baked(provider)
        if baked is not None:
            return baked.open
        return self.live(provider) is None

    # -- models -------------------------------------------------------------------------------------
    def entries(self, provider: str) -> list[CatalogEntry]:
        if provider not in self._entries:
            self._entries[provider] = self._merge(provider)
        return self._entries[provider]

    def find(self, provider: str, model: str) -> CatalogEntry | None:
        """The entry for `model` by id, alias, or (for a dated snapshot) its undated id. Gemini ids
        may carry the API's `models/` prefix."""
        by_name: dict[str, CatalogEntry] = {}
        for entry in self.entries(provider):
            for name in (entry.model, *entry.aliases):
                by_name.setdefault(name, entry)
        if self.kind(provider) == "gemini":
            model = model.removeprefix("models/")
            if self._claude_on_vertex(provider, model):
                found = self.find("anthropic", model.replace("@", "-"))
                return _relabelled(found, provider) if found is not None else None
        found = by_name.get(model)
        if found is None and (base := undated(model)) is not None:
            found = by_name.get(base)
        return found

    def _claude_on_vertex(self, provider: str, model: str) -> bool:
        """A Claude id on a gemini provider's Vertex route (`region` set) is Anthropic's model
        served by Vertex AI (`providers/vertex_anthropic.py`): listed and priced as Anthropic's."""
        return model.lower().startswith("claude") and bool(self.loaded.provider(provider).region)

    def kind(self, provider: str) -> str:
        if not self.is_declared(provider):
            return provider
        return self.loaded.provider(provider).kind or "openai-compatible"

    def known_ids(self, provider: str) -> list[str]:
        return [name for e in self.entries(provider) for name in (e.model, *e.aliases)]

    def price(self, provider: str, model: str) -> Prices | None:
        """The price of `model`: the user's `[pricing]` entry over the catalog's; zero for declared
        OpenAI-compatible providers and for mock; None when nothing is known."""
        return self._resolve_price(provider, model, self.find(provider, model))

    def _resolve_price(
        self, provider: str, model: str, entry: CatalogEntry | None
    ) -> Prices | None:
        listed = self._listed_price(provider, model, entry)
        override = self._override(provider, model, entry)
        if override is not None:
            return apply_override(listed, override)
        if listed is not None:
            return listed
        return ZERO if self._free_by_default(provider) else None

    def _listed_price(self, provider: str, model: str, entry: CatalogEntry | None) -> Prices | None:
        """The price in a baked-in list: the provider's own, or for a declared provider of a native
        kind, the vendor's."""
        baked = self.baked(provider)
        if self.kind(provider) == "gemini" and self._claude_on_vertex(provider, model):
            baked = load_baked("anthropic")
        if baked is None:
            source = KIND_PRICE_SOURCE.get(self.kind(provider))
            baked = load_baked(source) if source is not None else None
        if baked is None:
            return None
        found = _find_baked(baked, entry.model if entry else model)
        if found is None and entry is not None:
            found = _find_baked(baked, model)
        return found.prices if found is not None else None

    def _free_by_default(self, provider: str) -> bool:
        """Declared providers cost nothing unless priced; so does a provider whose list is open
        (mock). A hosted preset (groq, openrouter, ...) has a price rupu does not know: unknown,
        not free; a keyless one (local ollama) is free."""
        baked = self.baked(provider)
        if baked is not None:
            return baked.open

        return not is_preset(provider) or bool(self.loaded.provider(provider).keyless)

    def _override(self, provider: str, model: str, entry: CatalogEntry | None) -> ModelPrice | None:
        table = self.loaded.config.pricing.get(provider) or {}
        if not table:
            return None
        names = [model, *([entry.model, *entry.aliases] if entry else [])]
        if (base := undated(model)) is not None:
            names.append(base)
        return next((table[n] for n in names if n in table), None)

    def _merge(self, provider: str) -> list[CatalogEntry]:
        rows: dict[str, CatalogEntry] = {}
        alias_of: dict[str, str] = {}
        baked = self.baked(provider)
        for info in baked.models if baked is not None else []:
            rows[info.id] = CatalogEntry(
                provider,
                info.id,
                "baked-in",
                info.name,
                info.context_window,
                info.max_output,
                capabilities=info.capabilities,
                aliases=list(info.aliases),
            )
            alias_of.update({alias: info.id for alias in info.aliases})
        live = self.live(provider)
        for item in live.models if live is not None else []:
            key = alias_of.get(item.id, item.id)
            row = rows.setdefault(key, CatalogEntry(provider, key, "live"))
            _raise_source(row, "live")
            row.name = item.name or row.name
            row.context_window = item.context_window or row.context_window
            row.max_output = item.max_output or row.max_output
        for custom in self.loaded.provider(provider).models:
            key = alias_of.get(custom.id, custom.id)
            is_new = key not in rows
            row = rows.setdefault(key, CatalogEntry(provider, key, "custom"))
            _raise_source(row, "custom")
            given = custom.model_fields_set
            if is_new or "context_window" in given:
                row.context_window = custom.context_window
            if is_new or "max_output" in given:
                row.max_output = custom.max_output
        entries = sorted(rows.values(), key=lambda e: e.model)
        default = self.default_model(provider)
        for entry in entries:
            entry.prices = self._resolve_price(provider, entry.model, entry)
            entry.default = entry.model == default or default in entry.aliases
        return entries


def _raise_source(row: CatalogEntry, source: Source) -> None:
    if SOURCE_RANK[source] > SOURCE_RANK[row.source]:
        row.source = source


def _find_baked(catalog: ProviderCatalog, model: str) -> ModelInfo | None:
    for candidate in (model, undated(model)):
        if candidate is None:
            continue
        for info in catalog.models:
            if candidate == info.id or candidate in info.aliases:
                return info
    return None


def check_pricing_tables(loaded: LoadedConfig) -> None:
    """A `[pricing.<provider>]` table must name a known provider; a typo would silently price
    nothing."""
    known = sorted({*BUILTIN_PROVIDERS, *loaded.config.providers})
    for name in loaded.config.pricing:
        if name in known:
            continue
        location = None
        for path in reversed(loaded.files):
            models = list(loaded.config.pricing[name])[:1]
            line = toml_line_finder(path.read_text(encoding="utf-8-sig"))(
                ["pricing", name, *models]
            )
            if line is not None:
                location = Location(str(path), line)
                break
        raise ConfigError(
            f"[pricing.{name}] names no provider{did_you_mean(name, known)}",
            location=location,
            field=f"pricing.{name}",
            hint=f"known providers: {', '.join(known)}",
        )
