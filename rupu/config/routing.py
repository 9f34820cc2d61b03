"""`[routing]` in config.toml: tier preference lists, the zero-cost local fallback, cooldown timing."""

from __future__ import annotations

from pydantic import Field

from rupu.strict import StrictModel


class RoutingConfig(StrictModel):
    """- `tiers`: `{name: ["provider:model", ...]}` in order of preference; a table here replaces the
      built-in list of the same name (`fast`, `balanced`, `frontier`) and may add new tiers.
    - `local_fallback`: a `provider:model` (usually `ollama:...`) appended to every route as the last,
      zero-cost resort.
    - `cooldown_secs`: how long a provider rests after a rate limit that named no reset time.
    - `max_wait_secs`: when every candidate is cooling down, wait for the first to reset if that is at
      most this long; otherwise fail at once with the reset time.
    """

    tiers: dict[str, list[str]] = Field(default_factory=dict)
    local_fallback: str | None = None
    cooldown_secs: float = Field(default=60.0, ge=0)
    max_wait_secs: float = Field(default=60.0, ge=0)
