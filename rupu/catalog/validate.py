"""Model ids are checked before any request: an id the provider's catalog does not know is a
`ConfigError` with did-you-mean suggestions, so a typo never costs a round trip to the provider.

New models get through with `--allow-unknown-model` or `allow_unknown_model = true` (top level or in
`[providers.<name>]`); a provider without a catalog to check against accepts any id.
"""

from __future__ import annotations

import difflib

from rupu.catalog.catalog import ModelCatalog
from rupu.config import LoadedConfig
from rupu.errors import ConfigError, Location


def unknown_models_allowed(loaded: LoadedConfig, provider: str, *, flag: bool = False) -> bool:
    """The flag, else `[providers.<p>] allow_unknown_model`, else the top-level switch."""
    if flag:
        return True
    per_provider = loaded.provider(provider).allow_unknown_model
    return per_provider if per_provider is not None else loaded.config.allow_unknown_model


def suggestions(model: str, known: list[str], *, limit: int = 3) -> list[str]:
    """The nearest known ids; a case-only difference comes first."""
    exact_case = [k for k in known if k.lower() == model.lower()]
    close = difflib.get_close_matches(model, known, n=limit, cutoff=0.6)
    ordered = list(dict.fromkeys([*exact_case, *close]))
    return ordered[:limit]


def check_model(
    catalog: ModelCatalog,
    provider: str,
    model: str,
    *,
    allow_unknown: bool = False,
    location: Location | None = None,
    origin: str | None = None,
) -> None:
    """Raises a `ConfigError` when `model` is not in `provider`'s catalog (and unknown ids are not
    allowed). `origin` says where the id came from, e.g. "--model"."""
    if allow_unknown or catalog.is_open(provider) or catalog.find(provider, model) is not None:
        return
    near = suggestions(model, catalog.known_ids(provider))
    if len(near) == 1:
        hint_near = f" (did you mean '{near[0]}'?)"
    elif near:
        quoted = [f"'{n}'" for n in near]
        hint_near = f" (did you mean {', '.join(quoted[:-1])} or {quoted[-1]}?)"
    else:
        hint_near = ""
    source = f" (from {origin})" if origin else ""
    raise ConfigError(
        f"unknown model '{model}' for provider '{provider}'{source}{hint_near}",
        location=location,
        field="model",
        hint=(
            f"list the known ids with `rupu models list --provider {provider}`; for a model newer "
            f"than rupu's list run `rupu models refresh --provider {provider}`, pass "
            "--allow-unknown-model, or set allow_unknown_model = true in config.toml"
        ),
    )
