"""The environment tool subprocesses get, and redaction of secrets from tool output.

Subprocesses (the bash tool) inherit rupu's environment minus anything that looks like a credential:
provider keys, tokens, secrets, passwords and every `RUPU_*` variable. A variable is passed anyway
only when `[tools.bash] env_passthrough` names it. The values removed are also masked wherever tool
output shows them (`cat .env` prints the same key the environment held).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

SECRET_NAME = re.compile(
    r"(API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|PRIVATE_KEY|ACCESS_KEY)",
    re.IGNORECASE,
)
SECRET_NAMES = frozenset({"GH_TOKEN", "GITHUB_TOKEN", "COPILOT_GITHUB_TOKEN", "HF_TOKEN"})
MIN_REDACTED_LENGTH = 8
REDACTED = "[REDACTED]"


def is_secret_name(name: str) -> bool:
    upper = name.upper()
    return upper in SECRET_NAMES or upper.startswith("RUPU_") or bool(SECRET_NAME.search(upper))


def scrub_environment(
    env: Mapping[str, str], *, passthrough: Iterable[str] = ()
) -> tuple[dict[str, str], list[str]]:
    """(the environment without secrets, the secret values that were removed)."""
    allowed = set(passthrough)
    kept: dict[str, str] = {}
    removed: list[str] = []
    for name, value in env.items():
        if name in allowed or not is_secret_name(name):
            kept[name] = value
        elif value:
            removed.append(value)
    return kept, removed


@dataclass(frozen=True, slots=True)
class Redactor:
    """Replaces known secret values (longest first, so a key containing another is masked whole)."""

    values: tuple[str, ...] = ()

    @classmethod
    def of(cls, values: Iterable[str]) -> Redactor:
        unique = {v for v in values if len(v) >= MIN_REDACTED_LENGTH}
        return cls(tuple(sorted(unique, key=len, reverse=True)))

    def __call__(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text
