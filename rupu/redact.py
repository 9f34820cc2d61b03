"""Masking secrets in text: every value rupu knows to be a credential, and the shapes keys have.

A `Redactor` replaces each known value (8 characters or more; shorter ones would hit ordinary words)
and each match of a key shape (`sk-...`, `ghp_...`, `AIza...`, JWTs, PEM private keys, the token
after `Bearer `) with a marker naming its kind, never its value: `[REDACTED openai key]`,
`[REDACTED secret]` for a known value of no recognisable shape. All matches are found on the original
text and overlapping ones are merged, so a key that overlaps another leaves no part of either behind.
Protected strings (`RUPU_HOME`, the home directory, the workspace) are never taken as secrets.

This module is a leaf: the callers gather the values (`rupu.auth.known`) and decide where text flows
(`rupu.tools.toolbox`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

MIN_SECRET_LENGTH = 8
UNKNOWN_KIND = "secret"

_START = r"(?<![A-Za-z0-9_-])"
# (kind, the characters it can start with, the whole shape)
SHAPES: tuple[tuple[str, str, str], ...] = (
    (
        "private key",
        "-",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"
        r"[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\Z)",
    ),
    ("anthropic key", "s", _START + r"sk-ant-[A-Za-z0-9_-]{16,}"),
    ("openai key", "s", _START + r"sk-[A-Za-z0-9_-]{20,}"),
    (
        "github token",
        "g",
        _START + r"(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})",
    ),
    ("google key", "A", _START + r"AIza[0-9A-Za-z_-]{30,}"),
    ("google token", "y", _START + r"ya29\.[0-9A-Za-z_-]{20,}"),
    ("slack token", "x", _START + r"xox[abposr]-[A-Za-z0-9-]{10,}"),
    ("jwt", "e", _START + r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    ("bearer token", "Bb", r"(?:[Bb]earer|BEARER) [A-Za-z0-9._~+/-]{8,}=*"),
)
BEARER_PREFIX = len("Bearer ")
_COMPILED = tuple((kind, re.compile(pattern)) for kind, _, pattern in SHAPES)
# Where a shape may start: a first character, then what can follow it in any shape. Scanning for
# this and trying only the shapes with that first character is many times faster than one regex
# trying every shape at every position (bench/redact.py).
_TRIGGER = re.compile(
    r"[-sgAyxeBb](?:----BEGIN |k-|h[pousr]_|ithub_pat_|Iza|a29\.|ox[abposr]-|yJ|earer |EARER )"
)
_BY_FIRST = {
    first: tuple(c for c, (_, firsts, _) in zip(_COMPILED, SHAPES, strict=True) if first in firsts)
    for first in "".join(firsts for _, firsts, _ in SHAPES)
}

SECRET_NAME = re.compile(
    r"(API[_-]?KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|PRIVATE_KEY|ACCESS_KEY|"
    r"AUTHORIZATION)",
    re.IGNORECASE,
)
SECRET_NAMES = frozenset({"GH_TOKEN", "GITHUB_TOKEN", "COPILOT_GITHUB_TOKEN", "HF_TOKEN"})


def looks_secret_name(name: str) -> bool:
    """Whether a variable or setting called `name` holds a secret (`OPENAI_API_KEY`, `PGPASSWORD`,
    `Authorization`); `RUPU_HOME` and `PATH` do not."""
    upper = name.upper()
    return upper in SECRET_NAMES or bool(SECRET_NAME.search(upper))


def marker(kind: str) -> str:
    return f"[REDACTED {kind}]"


def kind_of(value: str) -> str:
    """The kind a known value is shown as: its key shape's when it has one."""
    for kind, pattern in _COMPILED:
        if pattern.fullmatch(value):
            return kind
    return UNKNOWN_KIND


def is_protected(value: str, protected: Iterable[str]) -> bool:
    """A value that is part of a protected path, or a path below one, is not a secret."""
    for path in protected:
        base = path.rstrip("/")
        if base and (value in path or value.startswith(base + "/")):
            return True
    return False


@dataclass(frozen=True, slots=True)
class SecretValues:
    """What is known at one moment. `credentials` are the values rupu uses (or could use) as
    credentials; they are also kept out of subprocess environments. `others` are other secret values
    (environment variables with secret names) that are only masked."""

    credentials: frozenset[str] = frozenset()
    others: frozenset[str] = frozenset()

    def every(self) -> frozenset[str]:
        return self.credentials | self.others


@dataclass(frozen=True, slots=True)
class Redactor:
    """Masks known values (longest first) and key shapes in one scan of each."""

    values: tuple[tuple[str, str], ...] = ()
    shapes: bool = True

    @classmethod
    def of(cls, values: Iterable[str], *, protected: Iterable[str] = ()) -> Redactor:
        kept = {v for v in values if len(v) >= MIN_SECRET_LENGTH}
        guarded = tuple(protected)
        ordered = sorted((v for v in kept if not is_protected(v, guarded)), key=len, reverse=True)
        return cls(tuple((v, kind_of(v)) for v in ordered))

    def __call__(self, text: str) -> str:
        if len(text) < MIN_SECRET_LENGTH:
            return text
        spans: list[tuple[int, int, str]] = []
        for value, kind in self.values:
            start = text.find(value)
            while start != -1:
                spans.append((start, start + len(value), kind))
                start = text.find(value, start + len(value))
        if self.shapes:
            spans.extend(shape_spans(text))
        if not spans:
            return text
        return _replace(text, spans)


def shape_spans(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, kind) of each key shape in `text`; for a bearer token only the token."""
    position = 0
    while True:
        trigger = _TRIGGER.search(text, position)
        if trigger is None:
            return
        start = trigger.start()
        for kind, pattern in _BY_FIRST[text[start]]:
            match = pattern.match(text, start)
            if match is not None:
                yield (
                    (start + BEARER_PREFIX if kind == "bearer token" else start),
                    match.end(),
                    kind,
                )
                position = match.end()
                break
        else:
            position = start + 1


def _replace(text: str, spans: list[tuple[int, int, str]]) -> str:
    """`text` with each group of overlapping spans replaced by one marker (the kind of the span
    that starts first, the longest at a tie)."""
    spans.sort(key=lambda s: (s[0], -s[1]))
    out: list[str] = []
    position = 0
    current_start, current_end, current_kind = spans[0]
    for start, end, kind in spans[1:]:
        if start < current_end:
            current_end = max(current_end, end)
            continue
        out.append(text[position:current_start])
        out.append(marker(current_kind))
        position = current_end
        current_start, current_end, current_kind = start, end, kind
    out.append(text[position:current_start])
    out.append(marker(current_kind))
    out.append(text[current_end:])
    return "".join(out)


def redact_data(value: object, redact: Redactor) -> object:
    """Every string in a JSON-like structure (a record's fields) redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_data(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v, redact) for v in value]
    return value
