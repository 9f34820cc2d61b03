"""Redaction: known values and key shapes are masked with a marker naming the kind, never the value;
overlapping secrets leave nothing behind; protected paths and short values are left alone."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rupu.redact import SHAPES, Redactor, SecretValues, kind_of, looks_secret_name, marker

SECRET_CHARS = st.sampled_from(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./+="
)
MARKERS = [marker(kind) for kind, *_ in SHAPES] + [marker("secret")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key sk-ant-api03-" + "A" * 40 + " end", "key [REDACTED anthropic key] end"),
        ("OPENAI_API_KEY=sk-proj-" + "b" * 40, "OPENAI_API_KEY=[REDACTED openai key]"),
        ("x sk-" + "c" * 48 + "\n", "x [REDACTED openai key]\n"),
        ("token ghp_" + "d" * 36, "token [REDACTED github token]"),
        ("gho_" + "e" * 36 + " ghs_" + "f" * 36, "[REDACTED github token] [REDACTED github token]"),
        ("github_pat_11ABC" + "g" * 60, "[REDACTED github token]"),
        ("k=AIzaSy" + "h" * 33, "k=[REDACTED google key]"),
        ("xoxb-1234567890-abcdefghij", "[REDACTED slack token]"),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXZhbHVl done",
            "jwt [REDACTED jwt] done",
        ),
        (
            "a\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\nNzaC1\n-----END OPENSSH PRIVATE KEY-----\nz",
            "a\n[REDACTED private key]\nz",
        ),
        ("cut -----BEGIN PRIVATE KEY-----\nMIIEvQ", "cut [REDACTED private key]"),
        (
            "Authorization: Bearer abc.def-ghi_jkl==",
            "Authorization: Bearer [REDACTED bearer token]",
        ),
    ],
)
def test_key_shapes_are_masked_by_kind(text: str, expected: str) -> None:
    assert Redactor.of([])(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "task-force sk-short ghp_short AIza eyJ.eyJ.x Bearer x",
        "def risk-assessment(): return ask-" + "a" * 30,
        "/home/user/.rupu/config.toml",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert Redactor.of([])(text) == text


def test_known_values_are_masked_with_their_kind_or_as_a_secret() -> None:
    oracle = "canary-oracle-0a1b2c3d"
    anthropic = "sk-ant-oat01-" + "Z" * 30
    redact = Redactor.of([oracle, anthropic, "short"])
    assert redact(f"A={oracle};B={anthropic};C=short") == (
        "A=[REDACTED secret];B=[REDACTED anthropic key];C=short"
    )
    assert kind_of(oracle) == "secret"
    assert kind_of(anthropic) == "anthropic key"


def test_overlapping_values_leave_no_part_behind() -> None:
    first, second = "aaaaaaaaXY", "XYbbbbbbbb"
    redact = Redactor.of([first, second])
    assert redact("<aaaaaaaaXYbbbbbbbb>") == "<[REDACTED secret]>"
    # a known value that overlaps a key shape is masked together with it
    shaped = "sk-" + "q" * 30
    assert Redactor.of(["q" * 10 + "!tail-of-secret"])(shaped + "!tail-of-secret") == (
        "[REDACTED openai key]"
    )


def test_protected_paths_are_never_masked() -> None:
    home = "/tmp/pytest-7/home/.rupu"
    redact = Redactor.of(
        [home, "/tmp/pytest-7", f"{home}/auth.json", "pytest-7/home"], protected=[home]
    )
    error = f"error: {home}/config.toml is inside rupu's private directory"
    assert redact(error) == error
    # a home of "/" protects "/" only, not every value that starts with a slash
    assert (
        Redactor.of(["/abcdefgh+key"], protected=["/"])("k=/abcdefgh+key") == "k=[REDACTED secret]"
    )


def test_secret_names() -> None:
    assert all(
        map(looks_secret_name, ["OPENAI_API_KEY", "x-api-key", "Authorization", "PGPASSWORD"])
    )
    assert not any(map(looks_secret_name, ["RUPU_HOME", "PATH", "HOME", "SSH_AUTH_SOCK"]))


def test_secret_values_union() -> None:
    values = SecretValues(frozenset({"a" * 8}), frozenset({"b" * 8}))
    assert values.every() == {"a" * 8, "b" * 8}


@settings(max_examples=300, deadline=None)
@given(
    secret=st.text(SECRET_CHARS, min_size=8, max_size=60),
    before=st.text(max_size=200),
    after=st.text(max_size=200),
    others=st.lists(st.text(SECRET_CHARS, min_size=8, max_size=30), max_size=3),
)
def test_a_known_secret_never_survives_in_any_surrounding_text(
    secret: str, before: str, after: str, others: list[str]
) -> None:
    # a "secret" spelled like a word of a marker (REDACTED, anthropic) cannot be told apart from it
    assume(not any(secret in m for m in MARKERS))
    redact = Redactor.of([secret, *others])
    out = redact(before + secret + after + secret)
    assert secret not in out
    assert marker(kind_of(secret)) in out or any(m in out for m in MARKERS)


PIECES = st.one_of(
    st.text(max_size=5),
    st.sampled_from(["sk-", "ghp_", "eyJ", ".", "Bearer ", "AIza", "a" * 8, "A" * 20, "-", "]"]),
)


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(PIECES, max_size=40))
def test_redaction_is_idempotent(pieces: list[str]) -> None:
    redact = Redactor.of(["a" * 8])
    once = redact("".join(pieces))
    assert redact(once) == once
