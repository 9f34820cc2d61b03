"""Agent files: strict frontmatter, line numbers, CRLF and BOM."""

from __future__ import annotations

from pathlib import Path

import pytest

from rupu.agents.spec import load_agent_file, parse_agent
from rupu.errors import ConfigError

GOOD = "---\nname: a\nprovider: mock\nmaxTurns: 3\npermissionMode: readonly\neffort: xhigh\n---\n\nBe brief.\n"


def test_fields_and_body() -> None:
    spec = parse_agent(GOOD, Path("a.md"), "global")
    front = spec.frontmatter
    assert (front.name, front.provider, front.max_turns, front.permission_mode) == (
        "a",
        "mock",
        3,
        "readonly",
    )
    assert front.effort == "max"
    assert spec.system_prompt == "Be brief."


def test_crlf_and_bom_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.replace("\n", "\r\n").encode())
    spec = load_agent_file(path, "project")
    assert spec.name == "a" and spec.system_prompt == "Be brief."


def test_misspelled_key_names_file_line_key_and_suggestion() -> None:
    text = "---\nname: a\nmodel: x\nmaxTurn: 3\n---\nbody\n"
    with pytest.raises(ConfigError) as info:
        parse_agent(text, Path("agents/a.md"), "global")
    assert (
        info.value.one_line() == "agents/a.md:4: unknown key 'maxTurn' (did you mean 'maxTurns'?)"
    )


def test_unknown_permission_mode_lists_valid_values() -> None:
    with pytest.raises(ConfigError) as info:
        parse_agent("---\nname: a\npermissionMode: Ask\n---\n", Path("a.md"), "global")
    message = info.value.one_line()
    assert message.startswith("a.md:3: invalid value for 'permissionMode'")
    assert "'ask'" in message and "'bypass'" in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("name: a\n", "missing frontmatter"),
        ("---\nname: a\n", "not closed"),
        ("---\n- a\n---\n", "must be a YAML mapping"),
        ("---\nname: [a\n---\n", "YAML syntax error"),
        ("---\ndescription: x\n---\n", "missing required key 'name'"),
    ],
)
def test_malformed_files(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_agent(text, Path("a.md"), "global")


def test_non_utf8_reports_byte_offset(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_bytes(b"---\nname: a\ndescription: caf\xe9\n---\n")
    with pytest.raises(ConfigError, match=r"a.md:3: not valid UTF-8 \(byte 28\)"):
        load_agent_file(path, "global")


def test_deeply_nested_frontmatter_is_one_config_error() -> None:
    nested = "  - " + "- " * 5000 + "1\n"  # 5000 sequences, one inside the other
    with pytest.raises(ConfigError) as info:
        parse_agent(f"---\nname: a\ndeep:\n{nested}---\nbody\n", Path("a.md"), "global")
    assert info.value.one_line().startswith("a.md:")
    assert "nested more than 100 levels deep" in info.value.one_line()


def test_duplicate_frontmatter_keys_are_refused() -> None:
    with pytest.raises(ConfigError) as info:
        parse_agent("---\nname: a\nmodel: x\nmodel: y\n---\nbody\n", Path("a.md"), "global")
    assert (
        info.value.one_line()
        == "a.md:4: duplicate key 'model' (first at line 3) (remove one of them)"
    )
