"""Every load-time error names file:line and says what to do (reliability cases F1-F12).

Each bad file marks the line the error must point at with `# <-`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rupu.config import load_config
from rupu.errors import ConfigError
from rupu.paths import Paths
from rupu.workflows.engine import plan_workflow
from rupu.workflows.loader import load_workflow
from rupu.workflows.lookup import load_reference
from tests.conftest import Workspace
from tests.workflows.helpers import write_agents, write_workflow

GOOD_STEP = "  - id: a\n    agent: worker\n    prompt: hi\n"

CASES: dict[str, tuple[str, str]] = {
    "yaml syntax": (
        "name: x\nsteps:\n  - id: a\n    prompt: a: b  # <-\n",
        "YAML syntax error: mapping values are not allowed",
    ),
    "unknown top key": (
        "name: x\ndescripton: y  # <-\nsteps:\n" + GOOD_STEP,
        "unknown key 'descripton' (did you mean 'description'?)",
    ),
    "unknown step key": (
        "name: x\nsteps:\n  - id: a\n    agent: worker\n    promt: hi  # <-\n",
        "unknown key 'steps.0.promt' (did you mean 'prompt'?)",
    ),
    "unknown nested key": (
        "name: x\nsteps:\n  - id: a\n    agent: w\n    prompt: p\n    output:\n"
        "      format: json\n      shema: {}  # <-\n",
        "unknown key 'steps.0.output.shema' (did you mean 'schema'?)",
    ),
    "unknown step kind": (
        "name: x\nsteps:\n  - id: a\n    rnu: ls  # <-\n",
        "unknown key 'steps.0.rnu' (did you mean 'run'?)",
    ),
    "unknown key of a run step": (
        "name: x\nsteps:\n  - id: a\n    run: ls\n    allow_failur: true  # <-\n",
        "unknown key 'steps.0.allow_failur' (did you mean 'allow_failure'?)",
    ),
    "bad key for a kind": (
        "name: x\nsteps:\n  - id: a\n    run: ls\n    prompt: p  # <-\n",
        "step 'a': `prompt` does not apply to run steps",
    ),
    "key of another kind on an agent step": (
        "name: x\nsteps:\n  - id: a\n    agent: w\n    prompt: p\n    allow_failure: true  # <-\n",
        "step 'a': `allow_failure` does not apply to agent steps",
    ),
    "run step with a mapping": (
        "name: x\nsteps:\n  - id: a\n    run: {cmd: ls}  # <-\n",
        "invalid value for 'steps.0.run': Input should be a valid string",
    ),
    "empty matrix list": (
        "name: x\nsteps:\n  - id: a\n    agent: w\n    prompt: p\n    matrix:  # <-\n"
        "      model: []\n",
        "matrix list 'model' is empty",
    ),
    "timeout on a gate": (
        "name: x\nsteps:\n  - id: a\n    approval: {}\n    timeout: 5  # <-\n",
        "step 'a': `timeout` applies only to steps that run an agent or a command",
    ),
    "duplicate ids": (
        "name: x\nsteps:\n" + GOOD_STEP + "  - id: a  # <-\n    agent: w\n    prompt: p\n",
        "duplicate step id 'a' (first used at line 3)",
    ),
    "duplicate yaml key": (
        "name: x\nname: y  # <-\nsteps:\n" + GOOD_STEP,
        "duplicate key 'name' (first at line 1)",
    ),
    "dangling depends_on": (
        "name: x\nsteps:\n  - id: build\n    agent: w\n    prompt: p\n  - id: test\n    agent: w\n"
        "    prompt: p\n    depends_on:\n      - bulid  # <-\n",
        "step 'test' depends on unknown step 'bulid' (did you mean 'build'?)",
    ),
    "cycle": (
        "name: x\nsteps:\n  - id: a\n    agent: w\n    prompt: p\n    depends_on: [c]  # <-\n"
        "  - id: b\n    agent: w\n    prompt: '{{ steps.a.output }}'\n"
        "  - id: c\n    agent: w\n    prompt: '{{ steps.b.output }}'\n",
        "dependency cycle: a -> b -> c -> a",
    ),
    "undefined variable": (
        "name: x\nsteps:\n  - id: a\n    agent: w\n    for_each: [1]\n    prompt: 'do {{ itme }}'  # <-\n",
        "unknown variable 'itme' in step 'a' prompt (did you mean 'item'?)",
    ),
    "loop outside for_each": (
        "name: x\nsteps:\n  - id: a\n    agent: w\n    prompt: '{{ loop.index }}'  # <-\n",
        "unknown variable 'loop' in step 'a' prompt",
    ),
    "unknown input": (
        "name: x\ninputs:\n  target: {}\nsteps:\n  - id: a\n    agent: w\n"
        "    prompt: '{{ inputs.targte }}'  # <-\n",
        "step 'a' prompt reads unknown input 'targte' (did you mean 'target'?)",
    ),
    "unknown step reference": (
        "name: x\nsteps:\n" + GOOD_STEP + "  - id: b\n    agent: w\n    prompt: |\n"
        "      first line\n      {{ steps.aa.output }}  # <-\n",
        "step 'b' prompt reads unknown step 'aa' (did you mean 'a'?)",
    ),
    "later step reference": (
        "name: x\nsteps:\n  - id: a\n    agent: w\n    prompt: '{{ steps.b.output }}'  # <-\n"
        "  - id: b\n    agent: w\n    prompt: p\n",
        "step 'a' prompt reads step 'b', which is declared later (line 6)",
    ),
    "unknown field": (
        "name: x\nsteps:\n" + GOOD_STEP + "  - id: b\n    agent: w\n"
        "    prompt: '{{ steps.a.outptu }}'  # <-\n",
        "reads unknown field 'steps.a.outptu' (did you mean 'output'?)",
    ),
    "json of a text step": (
        "name: x\nsteps:\n" + GOOD_STEP + "  - id: b\n    agent: w\n"
        "    when: '{{ steps.a.json.ok }}'  # <-\n    prompt: p\n",
        "reads steps.a.json, but step 'a' has text output",
    ),
    "dynamic steps access": (
        "name: x\nsteps:\n" + GOOD_STEP + "  - id: b\n    agent: w\n"
        "    prompt: '{% for s in steps %}{{ s }}{% endfor %}'  # <-\n",
        "reads `steps` without naming a step",
    ),
    "template syntax": (
        "name: x\nsteps:\n  - id: a\n    agent: w\n    prompt: |\n      line one\n"
        "      {{ broken( }}  # <-\n",
        "template syntax error in step 'a' prompt",
    ),
    "bad timeout": (
        "name: x\nsteps:\n  - id: a\n    agent: w\n    prompt: p\n    timeout: 5 minutes  # <-\n",
        "invalid value for 'steps.0.timeout': expected seconds as a number (90) or a duration "
        "string ('500ms', '30s', '5m', '1h') (got '5 minutes')",
    ),
    "negative retries": (
        "name: x\ndefaults:\n  retries: -1  # <-\nsteps:\n" + GOOD_STEP,
        "invalid value for 'defaults.retries': Input should be greater than or equal to 0",
    ),
    "zero concurrency": (
        "name: x\nmax_concurrency: 0  # <-\nsteps:\n" + GOOD_STEP,
        "invalid value for 'max_concurrency': Input should be greater than or equal to 1",
    ),
    "max_parallel on a single step": (
        "name: x\nsteps:\n  - id: a\n    agent: w\n    prompt: p\n    max_parallel: 2  # <-\n",
        "step 'a': `max_parallel` applies only to for_each and parallel steps",
    ),
    "agent without prompt": (
        "name: x\nsteps:\n  - id: a\n    agent: w  # <-\n",
        "step 'a': has an agent but no `prompt`",
    ),
    "parallel with agent": (
        "name: x\nsteps:\n  - id: a\n    agent: w  # <-\n    parallel:\n"
        "      - {id: s, agent: w, prompt: p}\n",
        "step 'a': a `parallel` step cannot also have `agent`",
    ),
    "step that does nothing": (
        "name: x\nsteps:\n  - id: a  # <-\n    when: true\n",
        "step 'a': does nothing",
    ),
    "bad step id": (
        "name: x\nsteps:\n  - id: 1st  # <-\n    agent: w\n    prompt: p\n",
        "step id '1st'",
    ),
    "default of the wrong type": (
        "name: x\ninputs:\n  count:  # <-\n    type: int\n    default: many\nsteps:\n" + GOOD_STEP,
        "invalid value for 'inputs.count': default 'many' is not a int",
    ),
    "zero steps": ("name: x\nsteps: []  # <-\n", "the workflow has no steps"),
    "no name": ("steps:  # <-\n" + GOOD_STEP, "missing required key 'name'"),
    "bad output": (
        "name: x\nsteps:\n  - id: a\n    agent: w\n    prompt: p\n    output: yaml  # <-\n",
        "output must be 'text', 'json' or {format: json, schema: ...}",
    ),
    "invalid schema": (
        "name: x\nsteps:\n  - id: a\n    agent: w\n    prompt: p\n    output:\n"
        "      schema: {type: objekt}  # <-\n",
        "invalid JSON Schema at /type: 'objekt' is not valid",
    ),
    "schema path escaping": (
        "name: x\nsteps:\n  - id: a\n    agent: w\n    prompt: p\n    output:\n"
        "      schema: ../../../etc/schema.json  # <-\n",
        "schema path '../../../etc/schema.json' leaves",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_load_error_names_file_line_and_fix(tmp_path: Path, case: str) -> None:
    text, message = CASES[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    expected_line = next(
        (n for n, line in enumerate(text.splitlines(), 1) if line.endswith("# <-")), None
    )
    with pytest.raises(ConfigError) as caught:
        load_workflow(path)
    error = caught.value
    assert message in error.message
    assert error.location is not None
    assert error.location.path == str(path)
    assert error.location.line == expected_line, error.one_line()
    assert error.one_line().startswith(f"{path}:{expected_line}")


def test_bom_and_crlf_are_accepted_and_bad_bytes_name_the_offset(tmp_path: Path) -> None:
    path = tmp_path / "crlf.yaml"
    path.write_bytes(b"\xef\xbb\xbfname: x\r\nsteps:\r\n  - {id: a, agent: w, prompt: p}\r\n")
    assert load_workflow(path).name == "x"
    raw = b"name: x\nsteps:\n  - {id: a, agent: w, prompt: caf\xe9}\n"
    path.write_bytes(raw)
    offset = raw.index(b"\xe9")
    with pytest.raises(ConfigError, match=rf"bad.yaml:3: not valid UTF-8 \(byte {offset}\)"):
        load_workflow(path.rename(tmp_path / "bad.yaml"))


def test_size_and_alias_limits(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("name: x\n# " + "x" * 1_100_000 + "\n")
    with pytest.raises(ConfigError, match="larger than 1 MB"):
        load_workflow(big)
    bomb = tmp_path / "bomb.yaml"
    levels = ["name: x", 'a: &a ["x","x","x","x","x","x","x","x","x"]']
    for level in "bcdefg":
        prev = chr(ord(level) - 1)
        levels.append(f"{level}: &{level} [" + ",".join([f"*{prev}"] * 9) + "]")
    bomb.write_text("\n".join([*levels, "steps: [*g]"]) + "\n")
    with pytest.raises(ConfigError, match="expands to more than"):
        load_workflow(bomb)
    deep = tmp_path / "deep.yaml"
    deep.write_text("[" * 50_000)
    with pytest.raises(ConfigError, match="nested more than 100 levels"):
        load_workflow(deep)


def test_schema_file_next_to_the_workflow(workspace: Workspace) -> None:
    write_agents(workspace, {"w": "mock"})
    path = write_workflow(
        workspace,
        "name: flow\nsteps:\n  - id: a\n    agent: w\n    prompt: p\n"
        "    output: {format: json, schema: schemas/out.json}\n",
    )
    (path.parent / "schemas").mkdir()
    (path.parent / "schemas" / "out.json").write_text('{"type": "object", "required": ["x"]}')
    loaded = load_workflow(path, root=workspace.project)
    assert loaded.schemas["a"] == {"type": "object", "required": ["x"]}


def test_secret_literals_are_warned_about_without_echoing_them(tmp_path: Path) -> None:
    path = tmp_path / "leaky.yaml"
    secret = "sk-proj-" + "A1b2C3d4" * 4
    path.write_text(f"name: x\nsteps:\n  - id: a\n    agent: w\n    prompt: 'key {secret}'\n")
    warnings = load_workflow(path).warnings
    assert warnings == [
        f"{path}:5: this looks like an OpenAI-style key; keep secrets out of workflow files "
        "(set an environment variable or run `rupu auth login`)"
    ]
    assert secret not in warnings[0]


PLAN_CASES = {
    "unknown agent": (
        "name: flow\nsteps:\n  - id: a\n    agent: reviewr  # <-\n    prompt: p\n",
        "step 'a': no agent named 'reviewr' (did you mean 'reviewer'?)",
    ),
    "unknown provider": (
        "name: flow\nsteps:\n  - id: a\n    agent: reviewer\n    provider: opneai  # <-\n"
        "    prompt: p\n",
        "step 'a': unknown provider 'opneai' (did you mean 'openai'?)",
    ),
    "unknown provider in a parallel entry": (
        "name: flow\nsteps:\n  - id: a\n    parallel:\n      - id: s\n        agent: reviewer\n"
        "        provider: nope  # <-\n        prompt: p\n",
        "step 'a/s': unknown provider 'nope'",
    ),
}


@pytest.mark.parametrize("case", list(PLAN_CASES))
def test_plan_errors_name_the_step_line(workspace: Workspace, case: str) -> None:
    text, message = PLAN_CASES[case]
    write_agents(workspace, {"reviewer": "mock"})
    path = write_workflow(workspace, text)
    paths = Paths.discover(os.environ, workspace.project)
    loaded = load_reference("flow", paths)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.endswith("# <-"))
    with pytest.raises(ConfigError) as caught:
        plan_workflow(loaded, paths, load_config(paths), inputs={})
    assert caught.value.one_line().startswith(f"{path}:{line}: {message}")


def test_inputs_are_typed_checked_and_required(workspace: Workspace) -> None:
    write_agents(workspace, {"w": "mock"})
    write_workflow(
        workspace,
        "name: flow\ninputs:\n  n: {type: int, required: true}\n  mode: {enum: [fast, slow], default: fast}\n"
        "  tags: {type: list, default: []}\n  verbose: {type: bool, default: false}\n"
        "steps:\n  - {id: a, agent: w, prompt: '{{ inputs.n + 1 }}'}\n",
    )
    paths = Paths.discover(os.environ, workspace.project)
    config = load_config(paths)
    loaded = load_reference("flow", paths)
    plan = plan_workflow(
        loaded, paths, config, inputs={"n": "41", "tags": "a, b", "verbose": "yes"}
    )
    assert plan.inputs == {"n": 41, "mode": "fast", "tags": ["a", "b"], "verbose": True}
    for given, message in [
        ({}, "missing required input 'n'"),
        ({"n": "x"}, "input 'n' must be a whole number (got 'x')"),
        ({"n": "1", "mode": "medium"}, "input 'mode' must be one of fast, slow (got 'medium')"),
        ({"n": "1", "nn": "2"}, "unknown input 'nn' (did you mean 'n'?)"),
    ]:
        with pytest.raises(ConfigError) as caught:
            plan_workflow(loaded, paths, config, inputs=given)
        assert caught.value.message == message
