"""Acceptance 2: one workflow mixes three config-declared providers (loopback chat-completions
servers, each with its own key); the fan-out runs concurrently and every step uses its own
credential, provider and model overrides."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import orjson
import pytest

from tests.conftest import Workspace, run_rupu
from tests.servers.base import RecordedRequest, Reply
from tests.servers.openai_chat import ChatCompletionsServer, stream_reply, text_stream, usage

LATENCY = 0.4
NAMES = ("alpha", "beta", "gamma")

WORKFLOW = """
name: three
steps:
  - id: plan
    agent: planner
    prompt: plan the work
  - id: review
    parallel:
      - {id: b1, agent: reviewer, prompt: "b1 after {{ steps.plan.output }}"}
      - {id: b2, agent: reviewer, model: beta-2, prompt: b2}
      - {id: g1, agent: reviewer, provider: gamma, model: gamma-x, prompt: g1}
      - {id: a1, agent: reviewer, provider: alpha, prompt: a1}
  - id: many
    agent: reviewer
    provider: gamma
    depends_on: [plan]
    for_each: [1, 2, 3, 4, 5, 6]
    prompt: "item {{ item }}"
  - id: report
    agent: planner
    prompt: "{{ steps.review.results | join(' / ') }} | {{ steps.many.results | length }}"
"""


def _answer(name: str) -> Callable[[RecordedRequest], Reply]:
    def reply(request: RecordedRequest) -> Reply:
        prompt = request.body["messages"][-1]["content"]
        return stream_reply(
            text_stream([f"{name}: ", prompt.split()[0]], with_usage=usage(7, 2)), delay=LATENCY
        )

    return reply


@pytest.fixture
def servers(workspace: Workspace) -> Iterator[dict[str, ChatCompletionsServer]]:
    with ExitStack() as stack:
        found = {
            name: stack.enter_context(ChatCompletionsServer(api_key=f"sk-{name}-canary"))
            for name in NAMES
        }
        config = ""
        for name, server in found.items():
            server.default_reply = _answer(name)
            config += (
                f'[providers.{name}]\nbase_url = "{server.base_url}/v1"\n'
                f'default_model = "{name}-default"\n'
            )
        workspace.write_config(config)
        workspace.write_agent(
            "planner",
            "---\nname: planner\nprovider: alpha\nmodel: alpha-large\n---\nPlan.\n",
            project=True,
        )
        workspace.write_agent(
            "reviewer",
            "---\nname: reviewer\nprovider: beta\nmodel: beta-1\n---\nReview.\n",
            project=True,
        )
        directory = workspace.project / ".rupu" / "workflows"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "three.yaml").write_text(WORKFLOW)
        yield found


KEYS = {f"RUPU_{name.upper()}_API_KEY": f"sk-{name}-canary" for name in NAMES}


def test_three_providers_run_concurrently_with_their_own_credentials(
    servers: dict[str, ChatCompletionsServer],
) -> None:
    result = run_rupu("workflow", "run", "three", "--format", "json", env=KEYS)
    assert result.code == 0, result.stderr
    events = [orjson.loads(line) for line in result.stdout.splitlines()]
    finished = {e["step"]: e for e in events if e["type"] == "step_finished"}
    assert {s: e["status"] for s, e in finished.items()} == dict.fromkeys(
        ["plan", "review", "many", "report"], "succeeded"
    )
    # 10 calls of 400 ms each after `plan`: one after another they would take 4 s. All ten are
    # in flight before the first one answers, and the whole fan-out takes about one call.
    fan_out = [e for e in events if e.get("step") in ("review", "many")]
    kinds = [e["type"] for e in fan_out if e["type"].startswith("unit_")]
    assert kinds == ["unit_started"] * 10 + ["unit_finished"] * 10
    started = {e["step"]: e["ts"] for e in events if e["type"] == "step_started"}
    fan_out_wall = max(finished["review"]["ts"], finished["many"]["ts"]) - min(
        started["review"], started["many"]
    )
    assert LATENCY <= fan_out_wall < 10 * LATENCY / 2, fan_out_wall

    def seen(name: str) -> list[tuple[str, str]]:
        return sorted(
            (r.body["model"], r.body["messages"][-1]["content"].split()[0])
            for r in servers[name].requests
        )

    assert seen("alpha") == [
        ("alpha-default", "a1"),
        ("alpha-large", "beta:"),
        ("alpha-large", "plan"),
    ]
    assert seen("beta") == [("beta-1", "b1"), ("beta-2", "b2")]
    assert seen("gamma") == [("gamma-default", "item")] * 6 + [("gamma-x", "g1")]
    for name, server in servers.items():
        assert {r.headers["authorization"] for r in server.requests} == {f"Bearer sk-{name}-canary"}
    report = next(
        r for r in servers["alpha"].requests if r.body["messages"][-1]["content"].startswith("beta")
    )
    assert report.body["messages"][-1]["content"] == (
        "beta: b1 / beta: b2 / gamma: g1 / alpha: a1 | 6"
    )
    units = [e for e in events if e["type"] == "unit_started"]
    assert {
        (e["step"], e["sub"], e["provider"], e["model"]) for e in units if e["step"] == "review"
    } == {
        ("review", "b1", "beta", "beta-1"),
        ("review", "b2", "beta", "beta-2"),
        ("review", "g1", "gamma", "gamma-x"),
        ("review", "a1", "alpha", "alpha-default"),
    }
    for secret in KEYS.values():
        assert secret not in result.stdout + result.stderr


def test_command_line_overrides_apply_to_every_step(
    servers: dict[str, ChatCompletionsServer],
) -> None:
    result = run_rupu(
        "workflow", "run", "three", "--provider", "gamma", "--model", "forced", "--plain", env=KEYS
    )
    assert result.code == 0, result.stderr
    assert servers["alpha"].requests == [] and servers["beta"].requests == []
    assert {r.body["model"] for r in servers["gamma"].requests} == {"forced"}
    assert len(servers["gamma"].requests) == 12


def test_a_missing_credential_stops_the_run_before_any_request(
    servers: dict[str, ChatCompletionsServer],
) -> None:
    env = {k: v for k, v in KEYS.items() if "GAMMA" not in k}
    result = run_rupu("workflow", "run", "three", env=env)
    assert result.code == 4
    assert "gamma: no credential found" in result.stderr
    assert all(server.requests == [] for server in servers.values())
    assert "Traceback" not in result.stderr
