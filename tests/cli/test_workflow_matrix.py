"""`matrix` steps from the command line: one call per combination, `provider:model` entries sending
each call to its own provider (loopback servers) with its own credential, checked before any call;
`--provider` beats the entries, so the shipped model-matrix example runs offline on mock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import orjson
import pytest

from tests.conftest import REPO_ROOT, Workspace, run_rupu
from tests.servers.base import RecordedRequest, Reply
from tests.servers.openai_chat import ChatCompletionsServer, stream_reply, text_stream, usage

KEYS = {"RUPU_ALPHA_API_KEY": "sk-alpha-canary", "RUPU_BETA_API_KEY": "sk-beta-canary"}
WORKFLOW = """name: compare
steps:
  - id: ask
    agent: reviewer
    matrix:
      model: [alpha:a-small, beta:b-large]
      style: [terse, long]
    prompt: "{{ matrix.style }} please"
  - id: join
    agent: reviewer
    prompt: "{{ steps.ask.results | join(' | ') }}"
"""


def _echo(request: RecordedRequest) -> Reply:
    prompt = request.body["messages"][-1]["content"]
    answer = f"{request.body['model']} says {prompt}"
    return stream_reply(text_stream([answer], with_usage=usage(5, 3)))


@pytest.fixture
def servers(workspace: Workspace) -> Iterator[dict[str, ChatCompletionsServer]]:
    with ExitStack() as stack:
        found = {
            name: stack.enter_context(ChatCompletionsServer(api_key=f"sk-{name}-canary"))
            for name in ("alpha", "beta")
        }
        config = ""
        for name, server in found.items():
            server.default_reply = _echo
            config += f'[providers.{name}]\nbase_url = "{server.base_url}/v1"\n'
        workspace.write_config(config)
        workspace.write_agent(
            "reviewer",
            "---\nname: reviewer\nprovider: alpha\nmodel: a-small\n---\nReview.\n",
            project=True,
        )
        directory = workspace.project / ".rupu" / "workflows"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "compare.yaml").write_text(WORKFLOW)
        yield found


def test_each_combination_runs_on_its_own_provider_and_model(
    servers: dict[str, ChatCompletionsServer],
) -> None:
    result = run_rupu("workflow", "run", "compare", "--plain", env=KEYS)
    assert result.code == 0, result.stderr
    asked = {
        name: sorted((r.body["model"], r.body["messages"][-1]["content"]) for r in s.requests)
        for name, s in servers.items()
    }
    assert asked["beta"] == [("b-large", "long please"), ("b-large", "terse please")]
    assert ("a-small", "terse please") in asked["alpha"]
    assert result.stdout.strip() == (
        "a-small says a-small says terse please | a-small says long please | "
        "b-large says terse please | b-large says long please"
    )
    for server in servers.values():
        key = server.api_key
        assert all(r.headers["authorization"] == f"Bearer {key}" for r in server.requests)


def test_every_entrys_credential_is_checked_before_any_call(
    servers: dict[str, ChatCompletionsServer],
) -> None:
    result = run_rupu(
        "workflow", "run", "compare", "--plain", env={"RUPU_ALPHA_API_KEY": "sk-alpha-canary"}
    )
    assert result.code == 4, result.stderr
    assert "beta" in result.stderr
    assert servers["alpha"].requests == [] and servers["beta"].requests == []


def test_show_lists_the_combinations(servers: dict[str, ChatCompletionsServer]) -> None:
    result = run_rupu("workflow", "show", "compare")
    assert result.code == 0, result.stderr
    assert "ask   matrix ×4: model (2) × style (2)" in result.stdout
    assert "└ model=beta:b-large style=long: reviewer on beta · b-large" in result.stdout
    described = orjson.loads(run_rupu("workflow", "show", "compare", "--format", "json").stdout)
    calls = described["steps"][0]["calls"]
    assert [(c["matrix"]["style"], c["provider"], c["model"]) for c in calls] == [
        ("terse", "alpha", "a-small"),
        ("long", "alpha", "a-small"),
        ("terse", "beta", "b-large"),
        ("long", "beta", "b-large"),
    ]


def test_the_model_matrix_example_runs_offline_on_mock(workspace: Workspace) -> None:
    result = run_rupu(
        "workflow",
        "run",
        str(REPO_ROOT / "workflows" / "model-matrix.yaml"),
        "--provider",
        "mock",
        "--format",
        "json",
    )
    assert result.code == 0, result.stderr
    events = [orjson.loads(line) for line in result.stdout.splitlines()]
    started = [e for e in events if e["type"] == "unit_started" and e["step"] == "compare"]
    assert {e["provider"] for e in started} == {"mock"}
    assert [e["item"]["model"] for e in started][::2] == [
        "anthropic:claude-sonnet-4-5",
        "openai:gpt-5",
        "gemini:gemini-2.5-pro",
    ]
    assert events[-1]["status"] == "succeeded"
    shown = run_rupu("workflow", "show", str(REPO_ROOT / "workflows" / "model-matrix.yaml"))
    assert "model=openai:gpt-5 prompt_style=terse: reviewer on openai · gpt-5" in shown.stdout


def test_a_step_model_template_reads_the_matrix(
    workspace: Workspace, servers: dict[str, ChatCompletionsServer]
) -> None:
    flows = workspace.project / ".rupu" / "workflows"
    (flows / "templated.yaml").write_text(
        "name: templated\nsteps:\n  - id: ask\n    agent: reviewer\n    matrix:\n"
        "      llm: [alpha:a-small, beta:b-large]\n    model: '{{ matrix.llm }}'\n    prompt: hi\n"
    )
    result = run_rupu("workflow", "show", "templated")
    assert result.code == 0, result.stderr
    assert "├ llm=alpha:a-small: reviewer on alpha · a-small" in result.stdout
    assert "└ llm=beta:b-large: reviewer on beta · b-large" in result.stdout
    (flows / "templated.yaml").write_text(
        "name: templated\nsteps:\n  - id: ask\n    agent: reviewer\n    matrix:\n"
        "      llm: [a]\n    model: '{{ inputs.x }}'\n    prompt: hi\n"
    )
    bad = run_rupu("workflow", "show", "templated")
    assert bad.code == 2
    assert "templated.yaml:7: unknown variable 'inputs' in step 'ask' model" in bad.stderr
