"""JSON outputs: extraction from prose, schema validation, one corrective re-prompt, then failure."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rupu.messages import TextPart
from rupu.workflows.contracts import check_output, extract_json
from tests.conftest import Workspace
from tests.workflows.helpers import (
    Answer,
    FakeProvider,
    Recorder,
    make_engine,
    run,
    start,
    write_agents,
    write_workflow,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ("  [1, 2]\n", [1, 2]),
        ('Here you go:\n```json\n{"a": {"b": [1]}}\n```\nThanks', {"a": {"b": [1]}}),
        ("```\n[true]\n```", [True]),
        (
            'The answer is {"say": "a } brace", "n": 2} and that is all.',
            {"say": "a } brace", "n": 2},
        ),
        ('noise [not json] then {"ok": true}', {"ok": True}),
        ('{"a": "\\"quoted {"} trailing', {"a": '"quoted {'}),
    ],
)
def test_extracts_json(text: str, expected: object) -> None:
    assert extract_json(text) == expected


def test_reports_no_json_and_schema_errors() -> None:
    assert check_output("no json here", None).errors == ["the answer holds no JSON value"]
    schema = {
        "type": "object",
        "required": ["n", "tags"],
        "properties": {"n": {"type": "integer"}, "tags": {"type": "array"}},
    }
    result = check_output('{"n": "x"}', schema)
    assert result.errors == [
        "at the top level: 'tags' is a required property",
        "at /n: 'x' is not of type 'integer'",
    ]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)


@given(JSON_VALUES)
def test_any_json_value_survives_prose_around_it(value: object) -> None:
    encoded = orjson.dumps(value).decode()
    if isinstance(value, dict | list):
        assert extract_json(f"Sure! Here it is: {encoded}\nHope that helps.") == value
    assert extract_json(encoded) == value


SCHEMA_FLOW = """
name: flow
steps:
  - id: plan
    agent: planner
    prompt: plan it
    output:
      format: json
      schema:
        type: object
        required: [tasks]
        properties:
          tasks: {type: array, items: {type: string}, minItems: 1}
  - id: use
    agent: planner
    prompt: "first task: {{ steps.plan.json.tasks[0] }}"
"""


@pytest.mark.anyio
async def test_one_corrective_reprompt_then_success(workspace: Workspace) -> None:
    write_agents(workspace, {"planner": "mock"})
    write_workflow(workspace, SCHEMA_FLOW)
    answers = iter(["I think we should refactor.", '```json\n{"tasks": ["refactor"]}\n```'])

    def respond(prompt: str, _: object) -> Answer:
        return Answer(next(answers) if prompt.startswith(("plan", "Your previous")) else prompt)

    fake = FakeProvider("mock", respond)
    recorder = Recorder()
    outcome = await run(start(make_engine(workspace, {"mock": fake})), recorder)
    assert outcome.status == "succeeded"
    assert outcome.outputs == {"use": "first task: refactor"}
    [retry] = recorder.of("contract_retry")
    assert retry["errors"] == ["the answer holds no JSON value"]
    second = fake.requests[1]
    assert [m.role for m in second.messages] == ["user", "assistant", "user"]
    corrective = "".join(p.text for p in second.messages[-1].parts if isinstance(p, TextPart))
    assert "did not match the required JSON output" in corrective
    assert '"minItems": 1' in corrective
    assert second.output_format == "json" and second.output_schema is not None


@pytest.mark.anyio
async def test_second_mismatch_fails_the_step_with_the_schema_errors(workspace: Workspace) -> None:
    write_agents(workspace, {"planner": "mock"})
    write_workflow(workspace, SCHEMA_FLOW)
    fake = FakeProvider("mock", lambda p, _: Answer('{"tasks": []}'))
    outcome = await run(start(make_engine(workspace, {"mock": fake})))
    assert outcome.status == "failed"
    assert outcome.error == (
        "step 'plan' failed: the output does not match its JSON contract after one corrective "
        "re-prompt: at /tasks: [] should be non-empty"
    )
    assert len(fake.prompts) == 2
