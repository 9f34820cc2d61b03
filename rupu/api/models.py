"""The model catalog for the Python API: what `rupu models list` lists."""

from __future__ import annotations

from rupu.api.session import Session
from rupu.catalog.catalog import CatalogEntry, ModelCatalog
from rupu.providers.registry import provider_kind


def list_models(
    provider: str | None = None, *, session: Session | None = None
) -> list[CatalogEntry]:
    """Every known model of `provider` (default: of every provider): custom models from config,
    the live lists `rupu models refresh` saved, and rupu's own list, in that order of precedence."""
    session = session or Session.from_environment()
    catalog = ModelCatalog(session.config, session.paths)
    if provider is not None:
        provider_kind(
            provider, session.config
        )  # an unknown provider is an error, not an empty list
    names = [provider] if provider else catalog.providers()
    return [entry for name in names for entry in catalog.entries(name)]
