"""No input crashes rupu (issue 11 §5): generated agent, workflow and config files (random
structures with the real keys, random bytes, deep nesting, odd unicode, control characters, huge
numbers, wrong types) go through the real loaders, which either load them or raise a `RupuError`;
and through a few real `rupu` processes, which end with a documented exit code and no traceback."""

from __future__ import annotations

import json
import math
import string
import subprocess
import sys
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rupu.agents.spec import load_agent_file
from rupu.config import load_config
from rupu.errors import EXIT_CODES, RupuError
from rupu.paths import Paths
from rupu.workflows.loader import load_workflow
from tests.cli.tools_fixtures import rupu_env
from tests.conftest import Workspace, run_rupu

LOADER_SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CLI_SETTINGS = settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

AGENT_KEYS = [
    "name", "description", "provider", "model", "auth", "tools", "maxTurns", "permissionMode",
    "maxTokens", "effort", "outputFormat", "outputSchema", "fallback", "serviceTier",
]  # fmt: skip
WORKFLOW_KEYS = ["name", "description", "inputs", "defaults", "max_concurrency", "steps"]
STEP_KEYS = [
    "id", "agent", "prompt", "depends_on", "when", "for_each", "parallel", "max_parallel",
    "continue_on_error", "timeout", "retries", "provider", "model", "output", "approval",
]  # fmt: skip
PROVIDER_KEYS = [
    "kind", "base_url", "default_model", "api_key", "timeout", "max_retries", "headers", "script",
    "models", "command", "max_turns", "oauth", "compat", "query", "keyless", "service_tier",
]  # fmt: skip
TOP_CONFIG_KEYS = ["default_provider", "default_model", "permission_mode", "allow_unknown_model"]

# Text that leans on what parsers trip over: control characters, quotes, YAML/Jinja/TOML syntax,
# right-to-left marks, astral characters and lone combining marks.
ODD = [
    "\x00",
    "\x07",
    "\n",
    "\r",
    "\t",
    "\x7f",
    "\u202e",
    "\ufeff",
    "\U0001f600",
    "\u0301",
    "\u2028",
]
SYNTAX = ["{{", "}}", "{%", "%}", "|", "inputs.", "steps.", "*", "&a", "!!python/name:x", ":", "- "]
pieces = st.lists(st.sampled_from(list(string.printable) + ODD + SYNTAX), max_size=30)
text = pieces.map("".join) | st.text(max_size=20)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | text
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)


def mapping_with(keys: list[str], *, extra: st.SearchStrategy[Any] = values) -> Any:
    return st.dictionaries(st.sampled_from(keys) | text, extra, max_size=len(keys))


steps = st.lists(mapping_with(STEP_KEYS), min_size=0, max_size=3)
workflow_data = st.fixed_dictionaries(
    {"name": text | values, "steps": steps | values}, optional={"inputs": values}
).flatmap(lambda base: mapping_with(WORKFLOW_KEYS).map(lambda more: {**more, **base}))
agent_data = st.fixed_dictionaries({"name": text | values}).flatmap(
    lambda base: mapping_with(AGENT_KEYS).map(lambda more: {**base, **more})
)


@st.composite
def deep_yaml(draw: st.DrawFn) -> str:
    depth = draw(st.integers(min_value=1, max_value=6000))
    kind = draw(st.sampled_from(["flow_list", "flow_map", "block_map", "block_list"]))
    if kind == "flow_list":
        return "name: x\nsteps: " + "[" * depth + "]" * depth + "\n"
    if kind == "flow_map":
        return "name: x\ntools: " + "{a: " * depth + "1" + "}" * depth + "\n"
    lines = ["name: x"]
    short = min(depth, 400)  # indentation grows quadratically in size
    lines += [" " * i + ("a:" if kind == "block_map" else "- ") for i in range(short)]
    return "\n".join(lines) + " 1\n"


def to_yaml(data: Any) -> str:
    try:
        return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    except (yaml.YAMLError, ValueError, RecursionError):
        return json.dumps(data, default=str)  # JSON is YAML; PyYAML cannot dump every float key


def yaml_text() -> st.SearchStrategy[str]:
    return (
        agent_or_workflow_yaml
        | deep_yaml()
        | text
        | st.binary(max_size=200).map(lambda b: b.decode("latin-1"))
    )


agent_or_workflow_yaml = (agent_data | workflow_data | values).map(to_yaml)


@st.composite
def agent_file(draw: st.DrawFn) -> bytes:
    choice = draw(st.integers(min_value=0, max_value=4))
    if choice == 0:
        return draw(st.binary(max_size=300))
    header = to_yaml(draw(agent_data)) if choice < 3 else draw(yaml_text())
    body = draw(text)
    return f"---\n{header}\n---\n{body}\n".encode("utf-8", "surrogatepass")


@st.composite
def workflow_file(draw: st.DrawFn) -> bytes:
    choice = draw(st.integers(min_value=0, max_value=4))
    if choice == 0:
        return draw(st.binary(max_size=300))
    source = to_yaml(draw(workflow_data)) if choice < 3 else draw(yaml_text())
    return source.encode("utf-8", "surrogatepass")


def toml_value(value: Any, depth: int = 0) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return '""'
    if isinstance(value, int):
        return str(value)  # TOML integers are 64-bit: a huge one is a syntax error rupu must report
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v, depth + 1) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{json.dumps(k)} = {toml_value(v, depth + 1)}" for k, v in value.items())
        return "{" + inner + "}"
    return json.dumps(value, ensure_ascii=False)


@st.composite
def config_file(draw: st.DrawFn) -> bytes:
    choice = draw(st.integers(min_value=0, max_value=5))
    if choice == 0:
        return draw(st.binary(max_size=300))
    if choice == 1:
        depth = draw(st.integers(min_value=1, max_value=5000))
        shape = draw(st.sampled_from(["array", "inline", "dotted"]))
        if shape == "array":
            return ("x = " + "[" * depth + "]" * depth + "\n").encode()
        if shape == "inline":
            return ("x = " + "{a = " * depth + "1" + "}" * depth + "\n").encode()
        return ("[providers.mock]\n" + ".".join(["a"] * depth) + " = 1\n").encode()
    if choice == 2:
        return draw(text).encode("utf-8", "surrogatepass")
    lines = [
        f"{key} = {toml_value(draw(values))}"
        for key in draw(st.lists(st.sampled_from(TOP_CONFIG_KEYS), unique=True))
    ]
    for name in draw(st.lists(st.sampled_from(["mock", "anthropic", "oracle"]) | text, max_size=2)):
        lines.append(f"[providers.{json.dumps(name, ensure_ascii=False)}]")
        table = draw(mapping_with(PROVIDER_KEYS))
        lines += [
            f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v)}" for k, v in table.items()
        ]
    return "\n".join(lines).encode("utf-8", "surrogatepass")


def loads_or_refuses(load: Any, *args: Any, **kwargs: Any) -> None:
    """The loader either returns or raises a `RupuError` with a one-line message."""
    try:
        load(*args, **kwargs)
    except RupuError as exc:
        assert "\n" not in exc.one_line()


@LOADER_SETTINGS
@given(content=agent_file())
def test_agent_loader_never_crashes(workspace: Workspace, content: bytes) -> None:
    path = workspace.home / "agents" / "fuzz.md"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content)
    loads_or_refuses(load_agent_file, path, "global")


@LOADER_SETTINGS
@given(content=workflow_file())
def test_workflow_loader_never_crashes(workspace: Workspace, content: bytes) -> None:
    path = workspace.home / "workflows" / "fuzz.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content)
    loads_or_refuses(load_workflow, path, root=path.parent)


@LOADER_SETTINGS
@given(content=config_file())
def test_config_loader_never_crashes(workspace: Workspace, content: bytes) -> None:
    (workspace.home / "config.toml").write_bytes(content)
    paths = Paths(home=workspace.home, project=None, cwd=workspace.project)
    loads_or_refuses(load_config, paths)


def assert_documented_exit(args: tuple[str, ...], *, stdin: bytes = b"") -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rupu", *args],
        input=stdin,
        capture_output=True,
        env=rupu_env(),
        timeout=20,
        check=False,
    )
    stderr = result.stderr.decode(errors="replace")
    assert result.returncode in EXIT_CODES, stderr
    assert "Traceback" not in stderr, stderr


# Several subprocesses per example: a loaded machine needs more than the default 60 s per test.
@pytest.mark.timeout(300)
@CLI_SETTINGS
@given(agent=agent_file(), workflow=workflow_file())
def test_cli_lists_and_runs_never_crash(
    workspace: Workspace, agent: bytes, workflow: bytes
) -> None:
    agents, workflows = workspace.home / "agents", workspace.home / "workflows"
    agents.mkdir(exist_ok=True)
    workflows.mkdir(exist_ok=True)
    (agents / "fuzz.md").write_bytes(agent)
    (agents / "good.md").write_text("---\nname: good\nprovider: mock\n---\nx\n")
    (workflows / "fuzz.yaml").write_bytes(workflow)
    assert_documented_exit(("agent", "list"))
    assert_documented_exit(("workflow", "list"))
    assert_documented_exit(("run", "--agent", str(agents / "fuzz.md"), "hello"))
    good = run_rupu("run", "--agent", "good", "hello", timeout=20)
    assert good.code == 0, good.stderr  # one broken file does not stop the others


# Several subprocesses per example: a loaded machine needs more than the default 60 s per test.
@pytest.mark.timeout(300)
@CLI_SETTINGS
@given(prompt=st.binary(max_size=200) | text.map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_cli_with_a_generated_prompt_never_crashes(workspace: Workspace, prompt: bytes) -> None:
    workspace.write_agent("good", "---\nname: good\nprovider: mock\n---\nx\n")
    assert_documented_exit(("run", "--agent", "good"), stdin=prompt)


# Several subprocesses per example: a loaded machine needs more than the default 60 s per test.
@pytest.mark.timeout(300)
@CLI_SETTINGS
@given(config=config_file())
def test_cli_with_a_generated_config_never_crashes(workspace: Workspace, config: bytes) -> None:
    workspace.write_agent("good", "---\nname: good\nprovider: mock\n---\nx\n")
    (workspace.home / "config.toml").write_bytes(config)
    assert_documented_exit(("run", "--agent", "good", "hello"))
