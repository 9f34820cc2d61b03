"""The tree of `agents:`: names and paths (relative to the listing file), cycles, depth, the
frontmatter key's own checks, and the narrower of two permission modes."""

from __future__ import annotations

from pathlib import Path

import pytest

from rupu.agents.spec import load_agent_file, parse_agent
from rupu.agents.subagents import load_tree, narrower_mode
from rupu.errors import ConfigError
from rupu.paths import Paths
from tests.conftest import Workspace


def _paths(workspace: Workspace) -> Paths:
    return Paths(workspace.home, None, workspace.project)


def _agent(name: str, agents: str = "") -> str:
    listed = f"agents: {agents}\n" if agents else ""
    return f"---\nname: {name}\nprovider: mock\n{listed}---\n{name}.\n"


def test_names_and_relative_paths_load_into_a_tree(workspace: Workspace) -> None:
    workspace.write_agent("reviewer", _agent("reviewer"))
    team = workspace.project / "team"
    team.mkdir()
    (team / "lead.md").write_text(_agent("lead", "[reviewer, ./helpers/translator.md]"))
    (team / "helpers").mkdir()
    (team / "helpers" / "translator.md").write_text(_agent("translator", "[../tester.md]"))
    (team / "tester.md").write_text(_agent("tester"))
    tree = load_tree(load_agent_file(team / "lead.md", "path"), _paths(workspace))
    assert list(tree.children) == ["reviewer", "translator"]
    assert tree.children["translator"].depth == 1
    assert list(tree.children["translator"].children) == ["tester"]
    assert tree.children["translator"].children["tester"].depth == 2
    assert [s.name for s in tree.specs()] == ["lead", "reviewer", "translator", "tester"]


def test_a_diamond_is_not_a_cycle(workspace: Workspace) -> None:
    workspace.write_agent("top", _agent("top", "[left, right]"))
    workspace.write_agent("left", _agent("left", "[shared]"))
    workspace.write_agent("right", _agent("right", "[shared]"))
    workspace.write_agent("shared", _agent("shared"))
    tree = load_tree(
        load_agent_file(workspace.home / "agents" / "top.md", "global"), _paths(workspace)
    )
    assert [s.name for s in tree.specs()] == ["top", "left", "shared", "right"]


def test_a_cycle_through_a_path_entry_is_found(workspace: Workspace) -> None:
    (workspace.project / "a.md").write_text(_agent("a", "[./b.md]"))
    (workspace.project / "b.md").write_text(_agent("b", "[./a.md]"))
    spec = load_agent_file(workspace.project / "a.md", "path")
    with pytest.raises(ConfigError, match=r"which makes a cycle: a → b → a"):
        load_tree(spec, _paths(workspace))


@pytest.mark.parametrize(("depth", "ok"), [(2, True), (1, False)])
def test_max_depth_counts_levels_below_the_top(workspace: Workspace, depth: int, ok: bool) -> None:
    workspace.write_agent("a", _agent("a", "[b]"))
    workspace.write_agent("b", _agent("b", "[c]"))
    workspace.write_agent("c", _agent("c"))
    spec = load_agent_file(workspace.home / "agents" / "a.md", "global")
    if ok:
        assert load_tree(spec, _paths(workspace), max_depth=depth).children["b"].children
    else:
        with pytest.raises(ConfigError, match="nest deeper than 1 levels: a → b → c"):
            load_tree(spec, _paths(workspace), max_depth=depth)


@pytest.mark.parametrize(
    ("value", "problem"),
    [("[a, a]", "an agent is listed twice"), ('["  "]', "an entry is empty")],
)
def test_the_agents_key_is_checked(value: str, problem: str) -> None:
    text = f"---\nname: x\nagents: {value}\n---\nx\n"
    with pytest.raises(ConfigError, match=problem):
        parse_agent(text, Path("x.md"), "path")


def test_one_name_is_a_list_of_one() -> None:
    spec = parse_agent("---\nname: x\nagents: reviewer\n---\nx\n", Path("x.md"), "path")
    assert spec.frontmatter.agents == ["reviewer"]


@pytest.mark.parametrize(
    ("own", "caller", "expected"),
    [
        ("bypass", "readonly", "readonly"),
        ("bypass", "ask", "ask"),
        ("readonly", "bypass", "readonly"),
        ("ask", "bypass", "ask"),
        ("ask", "ask", "ask"),
    ],
)
def test_a_sub_agent_never_runs_wider_than_its_caller(own: str, caller: str, expected: str) -> None:
    assert narrower_mode(own, caller) == expected  # type: ignore[arg-type]
