"""`provider: github-models` with only a GitHub token: chat completions on GitHub's inference path,
and the model list from its catalog."""

from __future__ import annotations

import orjson

from tests.conftest import Workspace, run_rupu
from tests.servers.github_models import GitHubModelsServer, catalog_entry
from tests.servers.openai_chat import stream_reply, text_stream, usage

TOKEN = "ghp-canary-51c0"


def test_github_models_runs_with_a_github_token(workspace: Workspace) -> None:
    with GitHubModelsServer(token=TOKEN) as server:
        workspace.write_config(
            f'[providers.github-models]\nbase_url = "{server.base_url}/inference"\n'
        )
        workspace.write_agent(
            "gh", "---\nname: gh\nprovider: github-models\nmodel: openai/gpt-4.1-mini\n---\n\nHi.\n"
        )
        server.script.append(
            stream_reply(
                text_stream(["Hello."], model="openai/gpt-4.1-mini", with_usage=usage(3, 2))
            )
        )
        result = run_rupu("run", "--agent", "gh", "say hello", env={"GITHUB_TOKEN": TOKEN})
    assert result.code == 0, result.stderr
    assert result.stdout == "Hello.\n"
    assert "github-models · openai/gpt-4.1-mini · api-key from env GITHUB_TOKEN" in result.stderr
    (request,) = server.requests
    assert request.path == "/inference/chat/completions"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.body["model"] == "openai/gpt-4.1-mini" and request.body["stream"] is True
    assert "reasoning_effort" not in request.body
    assert TOKEN not in result.output


def test_default_model_and_gh_token(workspace: Workspace) -> None:
    with GitHubModelsServer(token=TOKEN) as server:
        workspace.write_config(
            f'[providers.github-models]\nbase_url = "{server.base_url}/inference"\n'
        )
        workspace.write_agent("gh", "---\nname: gh\nprovider: github-models\n---\n\nHi.\n")
        server.script.append(stream_reply(text_stream(["ok"], with_usage=usage())))
        result = run_rupu("run", "--agent", "gh", "hi", env={"GH_TOKEN": TOKEN})
    assert result.code == 0, result.stderr
    assert server.requests[0].body["model"] == "openai/gpt-4.1"


def test_model_list_comes_from_the_catalog(workspace: Workspace) -> None:
    catalog = [
        catalog_entry("openai/gpt-4.1", max_input=1048576, max_output=32768),
        catalog_entry("meta/llama-3.3-70b-instruct", max_input=128000, max_output=4096),
    ]
    with GitHubModelsServer(token=TOKEN, catalog=catalog) as server:
        workspace.write_config(
            f'[providers.github-models]\nbase_url = "{server.base_url}/inference"\n'
        )
        refreshed = run_rupu(
            "models", "refresh", "--provider", "github-models", env={"GITHUB_TOKEN": TOKEN}
        )
        assert refreshed.code == 0, refreshed.stderr
        assert "github-models: 2 models" in refreshed.output
        listed = run_rupu("models", "list", "--provider", "github-models", "--format", "json")
    assert [r.path for r in server.requests] == ["/catalog/models"]
    rows = orjson.loads(listed.stdout)["rows"]
    assert sorted((r["model"], r["context"], r["max_output"]) for r in rows) == [
        ("meta/llama-3.3-70b-instruct", 128000, 4096),
        ("openai/gpt-4.1", 1048576, 32768),
    ]


def test_no_token_says_which_variables_were_tried(workspace: Workspace) -> None:
    workspace.write_agent("gh", "---\nname: gh\nprovider: github-models\n---\n\nHi.\n")
    result = run_rupu("run", "--agent", "gh", "hi")
    assert result.code == 4
    assert "GITHUB_TOKEN" in result.stderr and "GH_TOKEN" in result.stderr
