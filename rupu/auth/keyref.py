"""A stored or configured API key may be written three ways:

- the key itself;
- `!command args`: the key is the command's standard output (trimmed), run once per process through
  `/bin/sh -c` (so `!pass show anthropic` or `!op read op://vault/item/key` work); the secret only
  travels over the pipe, never in any process's arguments;
- the name of an environment variable: `$NAME`, `${NAME}`, or a bare upper-case name with an
  underscore such as `OPENAI_API_KEY_PROD`.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from rupu.errors import CredentialError

_ENV_BARE = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
_ENV_DOLLAR = re.compile(r"^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$")
COMMAND_TIMEOUT = 60.0

_cache: dict[str, str] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class KeyRef:
    """How a key is written. `text` is the command or the variable name (never a secret) for those
    forms; for a literal it is empty."""

    form: Literal["literal", "command", "env"]
    text: str = ""

    def describe(self) -> str:
        """What status lines and footers show: a command as `!command` only (its text may carry a
        secret, `!echo sk-...`, or name a vault path), an env var by name."""
        if self.form == "command":
            return "!command"
        if self.form == "env":
            return f"env {self.text}"
        return "literal"


def parse_key_ref(value: str) -> KeyRef:
    stripped = value.strip()
    if stripped.startswith("!"):
        command = stripped[1:].strip()
        return KeyRef("command", command) if command else KeyRef("literal")
    match = _ENV_DOLLAR.match(stripped)
    if match:
        return KeyRef("env", match.group(1))
    if _ENV_BARE.match(stripped):
        return KeyRef("env", stripped)
    return KeyRef("literal")


def resolve_key_ref(
    provider: str, ref: KeyRef, literal: str, env: Mapping[str, str], *, where: str
) -> str:
    """The key `ref` stands for. Blocking (a command may run); async callers use a thread."""
    if ref.form == "literal":
        return literal.strip()
    if ref.form == "env":
        value = env.get(ref.text, "").strip()
        if not value:
            raise CredentialError(
                provider,
                f"{where} names the environment variable {ref.text}, which is not set",
                hint=f"export {ref.text}=... or change {where}",
            )
        return value
    return run_key_command(provider, ref.text, env, where=where)


def run_key_command(provider: str, command: str, env: Mapping[str, str], *, where: str) -> str:
    """Runs `command` once per process (cached) and returns its trimmed stdout. Its stderr and stdin
    stay connected to the terminal, so a password manager can ask to be unlocked."""
    with _cache_lock:
        cached = _cache.get(command)
    if cached is not None:
        return cached
    try:
        proc = subprocess.run(
            ["/bin/sh", "-c", command],
            stdout=subprocess.PIPE,
            env=dict(env) if env else dict(os.environ),
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CredentialError(
            provider,
            f"the key command from {where} did not finish within {COMMAND_TIMEOUT:.0f}s",
            hint="run the command yourself to check it",
        ) from None
    except OSError as exc:
        raise CredentialError(
            provider, f"cannot run the key command from {where} ({exc.strerror})"
        ) from None
    if proc.returncode != 0:
        raise CredentialError(
            provider,
            f"the key command from {where} failed with exit status {proc.returncode}",
            hint="run the command yourself to see why",
        )
    value = proc.stdout.decode("utf-8", errors="replace").strip()
    if not value:
        raise CredentialError(
            provider,
            f"the key command from {where} printed nothing",
            hint="the command must print the key on standard output",
        )
    if "\n" in value:
        value = value.splitlines()[0].strip()
    with _cache_lock:
        _cache[command] = value
    return value


def command_results() -> tuple[str, ...]:
    """Every key a `!command` printed in this process so far (to mask them in tool output)."""
    with _cache_lock:
        return tuple(_cache.values())
