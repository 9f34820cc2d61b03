"""Named OpenAI-compatible services (`presets.toml`): base URL, key variables, request quirks.

A preset is data, not code: `rupu.config.with_preset` turns it into a `ProviderConfig` with the user's
`[providers.<name>]` table merged on top, so every key of a preset can be overridden in config.toml.
`expand_base_url` fills `${VAR}` placeholders from the environment the CLI passes in (this module never
reads `os.environ` itself).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from rupu.config.builtins import ModelListing
from rupu.config.chat_compat import ChatCompat
from rupu.errors import ConfigError
from rupu.strict import StrictModel

PRESETS_FILE = Path(__file__).with_name("presets.toml")
PresetKind = Literal["openai-compatible", "openai-responses", "gemini"]
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class Preset(StrictModel):
    label: str
    kind: PresetKind = "openai-compatible"
    base_url: str
    key_env: list[str] = Field(default_factory=list)
    keyless: bool = False
    default_model: str | None = None
    auth_header: str | None = None
    auth_scheme: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    compat: ChatCompat | None = None
    # Where the model list is read, when not at `GET {base_url}/models` (`rupu models refresh`).
    models: ModelListing | None = None

    def as_config(self) -> dict[str, Any]:
        """The preset as `ProviderConfig` keys (only the ones it sets)."""
        data: dict[str, Any] = {"base_url": self.base_url}
        if self.kind != "openai-compatible":
            data["kind"] = self.kind
        for key in ("default_model", "auth_header", "auth_scheme"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if self.keyless:
            data["keyless"] = True
        if self.headers:
            data["headers"] = dict(self.headers)
        if self.compat is not None:
            data["compat"] = self.compat.model_dump(exclude_unset=True)
        return data


@cache
def load_presets() -> dict[str, Preset]:
    data = tomllib.loads(PRESETS_FILE.read_text(encoding="utf-8"))
    try:
        return {name: Preset.model_validate(entry) for name, entry in data.items()}
    except ValidationError as exc:  # a packaging mistake, not a user error
        raise RuntimeError(f"{PRESETS_FILE} is invalid: {exc}") from exc


def preset_listing(name: str) -> ModelListing | None:
    """A preset's own model list endpoint, when it has one."""
    found = load_presets().get(name)
    return found.models if found is not None else None


def is_preset(name: str) -> bool:
    return name in load_presets()


def preset_names() -> list[str]:
    return sorted(load_presets())


def preset_kind(name: str) -> PresetKind:
    """The wire API a preset speaks (`openai-compatible` for all but a few)."""
    return load_presets()[name].kind


def preset_key_vars(name: str) -> tuple[str, ...]:
    """The environment variables that hold a preset's key, in the order they are tried."""
    found = load_presets().get(name)
    return tuple(found.key_env) if found is not None else ()


def expand_base_url(provider: str, base_url: str, env: Mapping[str, str]) -> str:
    """`${VAR}` and `${VAR:-default}` filled from `env`. A variable that opens the URL is a host
    (`OLLAMA_HOST=0.0.0.0:11434` becomes `http://127.0.0.1:11434`)."""

    def fill(match: re.Match[str]) -> str:
        var, default = match[1], match[2]
        value = env.get(var, "").strip() or default
        if value is None:
            raise ConfigError(
                f"provider '{provider}' needs the environment variable {var} for its base_url",
                field=f"providers.{provider}.base_url",
                hint=f"set {var}, or set base_url in [providers.{provider}]",
            )
        return normalise_host(value) if match.start() == 0 else value.strip("/")

    return _PLACEHOLDER.sub(fill, base_url)


def normalise_host(value: str) -> str:
    """`host:port`, `0.0.0.0:port` and `http://host:port/` as a URL root without a trailing slash."""
    value = value.strip().rstrip("/")
    if "://" not in value:
        value = f"http://{value}"
    scheme, _, rest = value.partition("://")
    if rest.startswith("0.0.0.0"):
        rest = "127.0.0.1" + rest[len("0.0.0.0") :]
    return f"{scheme}://{rest}"
