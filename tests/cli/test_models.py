"""`rupu models list|refresh` and model validation in `rupu run`, end to end (real subprocesses,
real sockets).

Acceptance: (1) `list` works offline from the baked-in data and shows custom models with source
`custom`; (2) `refresh` against loopback servers fills the cache and `list` then shows `live` entries;
(3) a typo in an agent's model is caught before the request, with a suggestion.
"""

from __future__ import annotations

import csv
import io

import orjson

from tests.conftest import Workspace, run_rupu
from tests.servers.model_lists import (
    AnthropicModelsServer,
    CompatibleServer,
    GeminiModelsServer,
    anthropic_model,
    gemini_model,
)
from tests.servers.openai_chat import stream_reply, text_stream, usage

ORACLE_CONFIG = """
[providers.oracle]
kind = "openai-compatible"
base_url = "{base}"

  [[providers.oracle.models]]
  id = "/raid/models/GLM-5.2-FP8"
  context_window = 131072
  max_output = 8192

[[providers.anthropic.models]]
id = "claude-house-ft"
context_window = 200000
"""


def rows_of(stdout: str) -> dict[tuple[str, str], list[str]]:
    lines = [line.split() for line in stdout.strip().splitlines()]
    assert lines[0] == ["PROVIDER", "MODEL", "SOURCE", "CONTEXT", "MAX", "OUT", "PRICE", "DEFAULT"]
    return {(cells[0], cells[1]): cells[2:] for cells in lines[1:]}


def test_list_works_offline_with_custom_models(workspace: Workspace) -> None:
    workspace.write_config(ORACLE_CONFIG.format(base="http://127.0.0.1:9/v1"))
    result = run_rupu("models", "list")
    assert result.code == 0, result.stderr
    rows = rows_of(result.stdout)
    assert rows[("anthropic", "claude-sonnet-4-6")] == [
        "baked-in",
        "1M",
        "64K",
        "$3/$15",
        "default",
    ]
    defaults = {provider for (provider, _), cells in rows.items() if cells[-1] == "default"}
    assert defaults == {
        "anthropic",
        "openai",
        "gemini",
        "antigravity",
        "copilot",
        "bedrock",
        "mock",
    }
    assert rows[("openai", "gpt-5")] == ["baked-in", "400K", "128K", "$1.25/$10"]
    assert rows[("gemini", "gemini-2.5-flash")] == ["baked-in", "1.05M", "65.5K", "$0.3/$2.5"]
    assert rows[("copilot", "claude-sonnet-4.6")][0] == "baked-in"
    assert rows[("mock", "echo")] == ["baked-in", "-", "-", "$0/$0", "default"]
    assert rows[("oracle", "/raid/models/GLM-5.2-FP8")] == ["custom", "131K", "8.19K", "$0/$0"]
    assert rows[("anthropic", "claude-house-ft")] == ["custom", "200K", "8.19K", "-"]
    providers = [provider for provider, _ in rows]
    assert providers.index("mock") < providers.index("oracle")


def test_list_one_provider_as_json_and_csv(workspace: Workspace) -> None:
    workspace.write_config(ORACLE_CONFIG.format(base="http://127.0.0.1:9/v1"))
    result = run_rupu("models", "list", "--provider", "oracle", "--format", "json")
    assert result.code == 0, result.stderr
    payload = orjson.loads(result.stdout)
    assert payload["kind"] == "model_list"
    assert payload["version"] == 1
    assert payload["rows"] == [
        {
            "provider": "oracle",
            "model": "/raid/models/GLM-5.2-FP8",
            "source": "custom",
            "name": None,
            "aliases": [],
            "context": 131072,
            "max_output": 8192,
            "prices": {"input": 0.0, "output": 0.0, "cache_read": 0.0, "cache_write": 0.0},
            "capabilities": None,
            "default": False,
        }
    ]
    result = run_rupu("models", "list", "-p", "anthropic", "--format", "csv")
    assert result.code == 0, result.stderr
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    haiku = next(r for r in table if r["model"] == "claude-haiku-4-5")
    assert haiku == {
        "provider": "anthropic",
        "model": "claude-haiku-4-5",
        "source": "baked-in",
        "context": "200000",
        "max_output": "64000",
        "input_price": "1.0",
        "output_price": "5.0",
        "cache_read_price": "0.1",
        "cache_write_price": "1.25",
        "default": "false",
    }


def test_list_unknown_provider_suggests_the_nearest(workspace: Workspace) -> None:
    result = run_rupu("models", "list", "--provider", "antropic")
    assert result.code == 2
    assert "unknown provider 'antropic' (did you mean 'anthropic'?)" in result.stderr
    assert "Traceback" not in result.stderr


def test_refresh_fills_the_cache_and_list_shows_live_entries(workspace: Workspace) -> None:
    anthropic_models = [
        anthropic_model("claude-opus-4-7", "Claude Opus 4.7", 1_000_000, 128_000),
        anthropic_model("claude-sonnet-4-6", "Claude Sonnet 4.6", 1_000_000, 64_000),
        anthropic_model("claude-next-2026", "Claude Next", 2_000_000, 256_000),
    ]
    gemini_models = [
        gemini_model("gemini-2.5-pro", "Gemini 2.5 Pro"),
        gemini_model("gemini-3.5-flash", "Gemini 3.5 Flash", 2_097_152, 65_536),
    ]
    with (
        AnthropicModelsServer(anthropic_models, api_key="sk-ant-cli", page_size=2) as anthropic,
        GeminiModelsServer(gemini_models, api_key="AIza-cli", page_size=1) as gemini,
        CompatibleServer(["glm-5", "/raid/models/GLM-5.2-FP8"], api_key="k-oracle") as oracle,
    ):
        workspace.write_config(
            ORACLE_CONFIG.format(base=f"{oracle.base_url}/v1")
            + f'\n[providers.anthropic]\nbase_url = "{anthropic.base_url}"\n'
            + f'\n[providers.gemini]\nbase_url = "{gemini.base_url}"\n'
        )
        env = {
            "ANTHROPIC_API_KEY": "sk-ant-cli",
            "GEMINI_API_KEY": "AIza-cli",
            "RUPU_ORACLE_API_KEY": "k-oracle",
        }
        refreshed = run_rupu("models", "refresh", env=env)
        listed = run_rupu("models", "list")
    assert refreshed.code == 0, refreshed.stderr
    lines = refreshed.stdout.strip().splitlines()
    cache = workspace.home / "cache" / "models"
    assert len(lines) == 5
    assert lines[0] == f"anthropic: 3 models (2 pages) -> {cache / 'anthropic.json'}"
    assert lines[1].startswith("openai: skipped: no credential (")
    assert "OPENAI_API_KEY" in lines[1]
    assert "rupu auth login --provider openai" in lines[1]
    assert lines[2] == f"gemini: 2 models (2 pages) -> {cache / 'gemini.json'}"
    assert lines[3].startswith("copilot: skipped: no credential (")
    assert "COPILOT_GITHUB_TOKEN" in lines[3]
    assert lines[4] == f"oracle: 2 models -> {cache / 'oracle.json'}"
    for secret in env.values():
        assert secret not in refreshed.output
        assert all(secret not in p.read_text() for p in cache.iterdir())
    assert listed.code == 0, listed.stderr
    rows = rows_of(listed.stdout)
    assert rows[("anthropic", "claude-sonnet-4-6")] == ["live", "1M", "64K", "$3/$15", "default"]
    assert rows[("anthropic", "claude-next-2026")] == ["live", "2M", "256K", "-"]
    assert rows[("anthropic", "claude-haiku-4-5")][0] == "baked-in"
    assert rows[("anthropic", "claude-house-ft")][0] == "custom"
    assert rows[("gemini", "gemini-3.5-flash")] == ["live", "2.1M", "65.5K", "-"]
    assert rows[("oracle", "glm-5")] == ["live", "-", "-", "$0/$0"]
    assert rows[("oracle", "/raid/models/GLM-5.2-FP8")][0] == "custom"
    as_json = orjson.loads(run_rupu("models", "list", "-p", "gemini", "--format", "json").stdout)
    assert set(as_json["live_fetched_at"]) == {"gemini"}


def test_refresh_reports_each_failure_and_keeps_going(workspace: Workspace) -> None:
    with (
        AnthropicModelsServer(
            [anthropic_model("claude-opus-4-7", "x")], api_key="right"
        ) as anthropic,
        GeminiModelsServer([gemini_model("gemini-2.5-pro", "x")], api_key="AIza") as gemini,
    ):
        workspace.write_config(
            f'[providers.anthropic]\nbase_url = "{anthropic.base_url}"\n'
            f'[providers.gemini]\nbase_url = "{gemini.base_url}"\n'
        )
        result = run_rupu(
            "models",
            "refresh",
            "--provider",
            "anthropic",
            "--provider",
            "gemini",
            "--provider",
            "openai",
            env={"ANTHROPIC_API_KEY": "sk-wrong", "GEMINI_API_KEY": "AIza"},
        )
    assert result.code == 4, result.output  # the largest: a missing credential
    assert result.stdout.startswith("gemini: 1 models")
    assert (
        "anthropic: failed: anthropic (HTTP 401, authentication_error): invalid x-api-key"
        in result.stderr
    )
    assert "openai: failed: openai: no credential found" in result.stderr
    assert "rupu: error: 2 of 3 providers failed to refresh: anthropic, openai" in result.stderr
    assert (workspace.home / "cache" / "models" / "gemini.json").is_file()
    assert "sk-wrong" not in result.output


AGENT = """---
name: coder
provider: {provider}
model: {model}
---
You write code.
"""


def test_typo_in_an_agent_model_is_caught_before_the_request(workspace: Workspace) -> None:
    with CompatibleServer(["glm-5", "qwen3-coder"], api_key="k-oracle") as oracle:
        workspace.write_config(f'[providers.oracle]\nbase_url = "{oracle.base_url}"\n')
        env = {"RUPU_ORACLE_API_KEY": "k-oracle"}
        assert run_rupu("models", "refresh", "-p", "oracle", env=env).code == 0
        agent = workspace.write_agent("coder", AGENT.format(provider="oracle", model="glm5"))
        typo = run_rupu("run", "--agent", "coder", "hello", env=env)
        requests_after_typo = len(oracle.requests)
        oracle.script.append(stream_reply(text_stream(["hi"], with_usage=usage(10, 2))))
        allowed = run_rupu("run", "--agent", "coder", "--allow-unknown-model", "hello", env=env)
    assert typo.code == 2
    assert typo.stdout == ""
    assert typo.stderr.startswith(
        f"rupu: error: {agent}:4: unknown model 'glm5' for provider 'oracle' (did you mean 'glm-5'?)"
    )
    assert "Traceback" not in typo.stderr
    assert requests_after_typo == 1  # only the refresh's GET /v1/models
    assert allowed.code == 0, allowed.stderr
    assert oracle.requests[-1].body["model"] == "glm5"


def test_typo_for_a_built_in_provider_sends_nothing(workspace: Workspace) -> None:
    with AnthropicModelsServer([], api_key="sk-ant") as server:
        workspace.write_config(f'[providers.anthropic]\nbase_url = "{server.base_url}"\n')
        workspace.write_agent("coder", AGENT.format(provider="anthropic", model="claude-sonet-4-6"))
        result = run_rupu("run", "--agent", "coder", "hello", env={"ANTHROPIC_API_KEY": "sk-ant"})
        flag = run_rupu(
            "run",
            "--agent",
            "coder",
            "--model",
            "claude-opus-4-8x",
            "hi",
            env={"ANTHROPIC_API_KEY": "sk-ant"},
        )
    assert result.code == 2
    assert "did you mean 'claude-sonnet-4-6'" in result.stderr
    assert "rupu models refresh --provider anthropic" in result.stderr
    assert flag.code == 2
    assert "unknown model 'claude-opus-4-8x' for provider 'anthropic' (from --model)" in flag.stderr
    assert server.requests == []


def test_config_switch_lets_new_models_through(workspace: Workspace) -> None:
    workspace.write_config("allow_unknown_model = true\n[providers.mock]\n")
    workspace.write_agent("coder", AGENT.format(provider="mock", model="echo"))
    result = run_rupu("run", "--agent", "coder", "--provider", "openai", "--model", "gpt-9", "hi")
    # Validation passes; the run then stops at the missing credential, before any request.
    assert result.code == 4
    assert "unknown model" not in result.stderr
    assert "OPENAI_API_KEY" in result.stderr
