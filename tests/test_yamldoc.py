"""The safe YAML reader: rupu's own limits and wording hold whatever the installed parser does."""

from __future__ import annotations

from pathlib import Path

import pytest

from rupu.errors import ConfigError
from rupu.yamldoc import MAX_DEPTH, line_finder, parse_yaml

DEEP_INPUTS = {
    # libyaml (PyYAML >= 6.0.4) stops at its own limit of 1000 flow levels before any event is read
    "unclosed flow, past the parser's own limit": "[" * 50_000,
    "closed flow, past the parser's own limit": "a: " + "[" * 5000 + "]" * 5000 + "\n",
    "closed flow, within the parser's limit": "a: " + "[" * 150 + "]" * 150 + "\n",
    "block mappings": "".join(f"{'  ' * i}k{i}:\n" for i in range(300)) + "  " * 300 + "x: 1\n",
    "compact block sequences": "x:\n  - " + "- " * 5000 + "1\n",
    "block sequences": "".join(f"{'  ' * i}-\n" for i in range(300)) + "  " * 300 + "- 1\n",
}


@pytest.mark.parametrize("text", DEEP_INPUTS.values(), ids=DEEP_INPUTS.keys())
def test_deep_nesting_is_refused_in_rupus_words_with_the_line(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_yaml(Path("deep.yaml"), text)
    message = info.value.one_line()
    assert message.startswith("deep.yaml:"), message
    assert f"the YAML is nested more than {MAX_DEPTH} levels deep" in message
    line = info.value.location.line if info.value.location else None
    assert line is not None and 1 <= line <= text.count("\n") + 1


def test_nesting_at_the_limit_is_accepted() -> None:
    text = "a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n"
    data, _ = parse_yaml(Path("ok.yaml"), text)
    assert isinstance(data, dict) and list(data) == ["a"]


def test_lines_count_from_first_line() -> None:
    text = "name: a\nmodel: m\nmodel: n\n"
    with pytest.raises(ConfigError) as info:
        parse_yaml(Path("agent.md"), text, first_line=2)
    assert info.value.one_line() == (
        "agent.md:4: duplicate key 'model' (first at line 3) (remove one of them)"
    )
    assert line_finder(text[:16], first_line=2)(["model"]) == 3


def test_syntax_errors_keep_file_line_and_column() -> None:
    with pytest.raises(ConfigError) as info:
        parse_yaml(Path("bad.yaml"), "a: [1, 2\nb: 3\n")
    assert info.value.one_line().startswith("bad.yaml:")
    assert "YAML syntax error" in info.value.one_line()
