"""The environment the commands the model runs (the bash tool) get.

Subprocesses inherit rupu's environment minus anything that looks like a credential, by name and by
value: variables named like secrets (`*_API_KEY`, `*_TOKEN`, `*_PASSWORD`, ...) and every `RUPU_*`
variable are removed, and so is any variable whose value is, or contains, a credential rupu knows
(`rupu.auth.known`), whatever its name (`api_key = "$ORACLE_KEY"` makes `ORACLE_KEY` one).
`[tools.bash] env_passthrough` hands a secret-named variable over anyway, except one holding a
credential rupu uses: that is never passed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from rupu.redact import MIN_SECRET_LENGTH, looks_secret_name


def is_secret_name(name: str) -> bool:
    return looks_secret_name(name) or name.upper().startswith("RUPU_")


def holds_credential(value: str, credentials: Iterable[str]) -> bool:
    return any(len(c) >= MIN_SECRET_LENGTH and c in value for c in credentials)


@dataclass(slots=True)
class ScrubbedEnvironment:
    """`env` for the subprocess; `refused` names the `env_passthrough` variables that were not
    passed because they hold a credential."""

    env: dict[str, str] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)


def scrub_environment(
    env: Mapping[str, str],
    *,
    passthrough: Iterable[str] = (),
    credentials: Collection[str] = (),
) -> ScrubbedEnvironment:
    allowed = set(passthrough)
    result = ScrubbedEnvironment()
    for name, value in env.items():
        if holds_credential(value, credentials):
            if name in allowed:
                result.refused.append(name)
        elif name in allowed or not is_secret_name(name):
            result.env[name] = value
    return result
