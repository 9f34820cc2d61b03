"""`rupu run` end to end: presets with only their key, fallbacks and what the user and the transcript
are told, errors that never fail over, tiers, service tier, and the claude-code stand-in."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import Workspace, run_rupu
from tests.servers.anthropic import AnthropicServer
from tests.servers.anthropic import error_reply as anthropic_error
from tests.servers.openai_chat import (
    ChatCompletionsServer,
    error_reply,
    stream_reply,
    text_stream,
    usage,
)

KP, KS = "kp-canary-7f3a", "ks-canary-9b1c"
ENV = {"RUPU_PRIMARY_API_KEY": KP, "RUPU_SECONDARY_API_KEY": KS}
FAKE_CLAUDE = Path(__file__).resolve().parent.parent / "providers" / "fake_claude.py"


def agent(extra: str = "") -> str:
    return f"---\nname: helper\nprovider: primary\nmodel: m1\n{extra}---\n\nYou help.\n"


def events(workspace: Workspace) -> list[dict[str, Any]]:
    (path,) = (workspace.home / "transcripts").glob("*.jsonl")
    return [orjson.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def pair(workspace: Workspace) -> Iterator[tuple[ChatCompletionsServer, ChatCompletionsServer]]:
    with (
        ChatCompletionsServer(api_key=KP) as primary,
        ChatCompletionsServer(api_key=KS) as secondary,
    ):
        workspace.write_config(
            f'[providers.primary]\nbase_url = "{primary.base_url}"\n'
            f'[providers.secondary]\nbase_url = "{secondary.base_url}"\n'
        )
        yield primary, secondary


@pytest.mark.parametrize("how", ["flag", "frontmatter"])
def test_rate_limited_primary_fails_over_and_everyone_is_told(
    workspace: Workspace, pair: tuple[ChatCompletionsServer, ChatCompletionsServer], how: str
) -> None:
    primary, secondary = pair
    limited = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "20s"}
    primary.script.append(error_reply(429, "Rate limit reached", "requests", headers=limited))
    secondary.script.append(
        stream_reply(text_stream(["Covered."], model="m2", with_usage=usage(5, 2)))
    )
    config = workspace.home / "config.toml"
    config.write_text(
        config.read_text()
        + '[pricing.primary."m1"]\ninput = 100\noutput = 100\n'
        + '[pricing.secondary."m2"]\ninput = 1\noutput = 2\n'
    )
    if how == "flag":
        workspace.write_agent("helper", agent("fallback: [other:x]\n"))
        args = ["--fallback", "secondary:m2"]
    else:
        workspace.write_agent("helper", agent("fallback: [secondary:m2]\n"))
        args = []
    result = run_rupu("run", "--agent", "helper", "hi", *args, env=ENV)
    assert result.code == 0, result.stderr
    assert result.stdout == "Covered.\n"
    assert (
        "failover: primary:m1 → secondary:m2 (rate limited: Rate limit reached; "
        "api-key from env RUPU_SECONDARY_API_KEY)"
    ) in result.stderr
    assert "secondary (fallback for primary) · m2 · api-key from env RUPU_SECONDARY_API_KEY" in (
        result.stderr
    )
    assert len(primary.requests) == 1 and secondary.requests[0].body["model"] == "m2"
    recorded = events(workspace)
    (failover,) = [e["data"] for e in recorded if e["type"] == "failover"]
    assert failover["from_provider"] == "primary" and failover["to_provider"] == "secondary"
    assert failover["error_class"] == "rate_limited" and failover["to_model"] == "m2"
    assert failover["credential"] == "api-key from env RUPU_SECONDARY_API_KEY"
    (served,) = [e["data"] for e in recorded if e["type"] == "usage"]
    assert (served["provider"], served["model"]) == ("secondary", "m2")
    assert served["credential"] == "api-key from env RUPU_SECONDARY_API_KEY"
    assert served["cost_usd"] == pytest.approx((5 * 1 + 2 * 2) / 1e6), "priced as the fallback"
    assert KS not in str(recorded) and KS not in result.output


def test_json_summary_names_who_served(
    workspace: Workspace, pair: tuple[ChatCompletionsServer, ChatCompletionsServer]
) -> None:
    primary, secondary = pair
    primary.script.append(error_reply(529, "Overloaded", "overloaded_error"))
    secondary.script.append(stream_reply(text_stream(["ok"], with_usage=usage())))
    workspace.write_agent("helper", agent())
    result = run_rupu(
        "run", "--agent", "helper", "hi", "--fallback", "secondary:m2", "--format", "json", env=ENV
    )
    assert result.code == 0, result.stderr
    summary = orjson.loads(result.stdout)
    assert summary["served_by"] == {
        "provider": "secondary",
        "model": "m2",
        "credential": "api-key from env RUPU_SECONDARY_API_KEY",
    }
    assert summary["failovers"] == 1 and summary["provider"] == "primary"


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (
            error_reply(429, "You exceeded your current quota", "insufficient_quota"),
            "quota or billing exhausted",
        ),
        (
            error_reply(401, "Incorrect API key", "invalid_api_key"),
            "rupu auth login --provider primary",
        ),
        (error_reply(400, "Unknown model m1", "invalid_request_error"), "check the model id"),
    ],
)
def test_quota_auth_and_bad_request_never_fail_over(
    workspace: Workspace,
    pair: tuple[ChatCompletionsServer, ChatCompletionsServer],
    reply: Any,
    words: str,
) -> None:
    primary, secondary = pair
    primary.script.append(reply)
    workspace.write_agent("helper", agent("fallback: [secondary:m2]\n"))
    result = run_rupu("run", "--agent", "helper", "hi", env=ENV)
    assert result.code == 3
    assert words in result.stderr and "not failed over" in result.stderr
    assert "Traceback" not in result.stderr
    assert secondary.requests == []
    assert not [e for e in events(workspace) if e["type"] == "failover"]


def test_fallback_without_a_key_fails_before_anything_is_sent(
    workspace: Workspace, pair: tuple[ChatCompletionsServer, ChatCompletionsServer]
) -> None:
    workspace.write_agent("helper", agent())
    result = run_rupu(
        "run",
        "--agent",
        "helper",
        "hi",
        "--fallback",
        "groq:llama",
        env={"RUPU_PRIMARY_API_KEY": "kp"},
    )
    assert result.code == 4
    assert "GROQ_API_KEY" in result.stderr and "remove 'groq:llama' from the fallback list" in (
        result.stderr
    )
    assert pair[0].requests == []


def test_preset_works_with_only_its_key_and_sends_the_service_tier(workspace: Workspace) -> None:
    with ChatCompletionsServer(api_key="gsk-canary", path="/openai/v1/chat/completions") as server:
        workspace.write_config(f'[providers.groq]\nbase_url = "{server.base_url}/openai/v1"\n')
        workspace.write_agent(
            "fast", "---\nname: fast\nprovider: groq\nserviceTier: flex\n---\n\nBe quick.\n"
        )
        server.script.append(
            stream_reply(
                text_stream(["Quick."], model="llama-3.3-70b-versatile", with_usage=usage())
            )
        )
        result = run_rupu("run", "--agent", "fast", "hi", env={"GROQ_API_KEY": "gsk-canary"})
    assert result.code == 0, result.stderr
    assert result.stdout == "Quick.\n"
    body = server.requests[0].body
    assert body["model"] == "llama-3.3-70b-versatile" and body["service_tier"] == "flex"
    assert "groq · llama-3.3-70b-versatile [flex] · api-key from env GROQ_API_KEY" in result.stderr
    assert "gsk-canary" not in result.output
    (used,) = [e["data"] for e in events(workspace) if e["type"] == "usage"]
    assert used["cost_usd"] is None, "a hosted preset's price is unknown, not free"


def test_unsupported_service_tier_is_a_config_error(workspace: Workspace) -> None:
    workspace.write_agent(
        "fast", "---\nname: fast\nprovider: groq\nserviceTier: priority\n---\n\nBe quick.\n"
    )
    result = run_rupu("run", "--agent", "fast", "hi", env={"GROQ_API_KEY": "k"})
    assert result.code == 2
    assert "does not offer service tier 'priority'" in result.stderr


def test_local_ollama_needs_only_ollama_host(workspace: Workspace) -> None:
    with ChatCompletionsServer(api_key=None, keyless=True) as server:
        workspace.write_agent("local", "---\nname: local\nprovider: ollama\n---\n\nHelp.\n")
        server.script.append(
            stream_reply(text_stream(["Local."], model="llama3.2", with_usage=usage()))
        )
        host = server.base_url.removeprefix("http://")
        result = run_rupu("run", "--agent", "local", "hi", env={"OLLAMA_HOST": host})
    assert result.code == 0, result.stderr
    assert result.stdout == "Local.\n"
    assert server.requests[0].body["model"] == "llama3.2"
    assert "ollama · llama3.2 · none (no key needed)" in result.stderr
    assert "$0.00" in result.stderr, "local inference costs nothing"


def test_tier_model_resolves_to_the_provider_with_credentials(workspace: Workspace) -> None:
    with ChatCompletionsServer(api_key="ck") as server:
        workspace.write_config(
            '[routing.tiers]\nfast = ["groq:llama-fast", "cerebras:gpt-oss-120b"]\n'
            f'[providers.cerebras]\nbase_url = "{server.base_url}/v1"\n'
        )
        workspace.write_agent("quick", "---\nname: quick\nmodel: tier:fast\n---\n\nHelp.\n")
        server.script.append(
            stream_reply(text_stream(["Tiered."], model="gpt-oss-120b", with_usage=usage()))
        )
        result = run_rupu("run", "--agent", "quick", "hi", env={"CEREBRAS_API_KEY": "ck"})
    assert result.code == 0, result.stderr
    assert "cerebras · gpt-oss-120b (tier:fast)" in result.stderr
    assert server.requests[0].body["model"] == "gpt-oss-120b"


def test_claude_code_runs_the_local_cli(workspace: Workspace, tmp_path: Path) -> None:
    workspace.write_config(
        "[providers.claude-code]\n"
        f"command = [{orjson.dumps(sys.executable).decode()}, {orjson.dumps(str(FAKE_CLAUDE)).decode()}]\n"
        'model = "claude-sonnet-4-6"\nmax_turns = 5\n'
    )
    workspace.write_agent("cc", "---\nname: cc\nprovider: claude-code\n---\n\nBe careful.\n")
    record = tmp_path / "record.json"
    result = run_rupu("run", "--agent", "cc", "fix it", env={"FAKE_CLAUDE_RECORD": str(record)})
    assert result.code == 0, result.stderr
    assert result.stdout == "Hello world\n\nDone.\n"
    assert "→ Bash: ls -la" in result.stderr
    login = "the claude CLI's own login (Claude subscription)"
    assert f"claude-code · claude-sonnet-4-6 · {login}" in result.stderr
    assert "note: claude-code runs the claude CLI headless on its Claude subscription" in (
        result.stderr
    )
    assert result.stderr.count("note: claude-code") == 1
    recorded = events(workspace)
    (note,) = [e["data"]["text"] for e in recorded if e["type"] == "note"]
    assert "consumer-terms" in note
    assert "$0.0123" in result.stderr
    (used,) = [e["data"] for e in recorded if e["type"] == "usage"]
    assert used["cost_usd"] == pytest.approx(0.0123) and used["cache_read_tokens"] == 2000
    assert used["credential"] == login
    assert orjson.loads(record.read_text())["options"]["--max-turns"] == "5"


def test_failover_crosses_dialects_to_a_custom_anthropic_gateway(workspace: Workspace) -> None:
    from tests.servers import anthropic as messages_api

    with (
        ChatCompletionsServer(api_key=KP) as primary,
        messages_api.AnthropicServer(api_key="gw-canary-3d2e") as gateway,
    ):
        workspace.write_config(
            f'[providers.primary]\nbase_url = "{primary.base_url}"\n'
            f'[providers.claude-gw]\nkind = "anthropic"\nbase_url = "{gateway.base_url}"\n'
        )
        workspace.write_agent("helper", agent("fallback: [claude-gw:claude-test-1]\n"))
        primary.script.append(error_reply(529, "Overloaded", "overloaded_error"))
        gateway.script.append(
            messages_api.stream_reply(
                messages_api.response_stream([messages_api.Text(["Via the gateway."])])
            )
        )
        env = {"RUPU_PRIMARY_API_KEY": KP, "RUPU_CLAUDE_GW_API_KEY": "gw-canary-3d2e"}
        result = run_rupu("run", "--agent", "helper", "hi", env=env)
    assert result.code == 0, result.stderr
    assert result.stdout == "Via the gateway.\n"
    assert gateway.requests[0].headers["x-api-key"] == "gw-canary-3d2e"
    assert "failover: primary:m1 → claude-gw:claude-test-1 (overloaded: Overloaded;" in (
        result.stderr
    )
    assert (
        "claude-gw (fallback for primary) · claude-test-1 · api-key from env RUPU_CLAUDE_GW_API_KEY"
        in (result.stderr)
    )


def test_priority_service_tier_on_the_responses_api_is_shown_and_priced(
    workspace: Workspace,
) -> None:
    from rupu.catalog.catalog import ModelCatalog
    from rupu.config import load_config
    from rupu.paths import Paths
    from tests.servers import openai_responses as responses_api

    with responses_api.ResponsesServer(api_key="sk-tier-canary") as server:
        workspace.write_config(f'[providers.openai]\nbase_url = "{server.base_url}/v1"\n')
        workspace.write_agent(
            "fast",
            "---\nname: fast\nprovider: openai\nmodel: gpt-5\nserviceTier: priority\n---\n\nGo.\n",
        )
        server.script.append(
            responses_api.stream_reply(
                responses_api.ResponseStream(model="gpt-5")
                .text(["Fast."])
                .completed(responses_api.usage(5000, 2000))
            )
        )
        result = run_rupu("run", "--agent", "fast", "hi", env={"OPENAI_API_KEY": "sk-tier-canary"})
    assert result.code == 0, result.stderr
    assert server.requests[0].body["service_tier"] == "priority"
    assert "openai · gpt-5 [priority] · api-key from env OPENAI_API_KEY" in result.stderr
    paths = Paths(workspace.home, workspace.project, workspace.project)
    price = ModelCatalog(load_config(paths), paths).price("openai", "gpt-5")
    assert price is not None
    standard = (5000 * price.input + 2000 * price.output) / 1e6
    (used,) = [e["data"] for e in events(workspace) if e["type"] == "usage"]
    assert used["cost_usd"] == pytest.approx(2 * standard), "priority is billed at about twice"


def test_a_preset_key_stored_with_rupu_auth_login(workspace: Workspace) -> None:
    no_keychain = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    login = run_rupu(
        "auth",
        "login",
        "--provider",
        "groq",
        "--mode",
        "api-key",
        input="gsk-stored-5e1f",
        env=no_keychain,
    )
    assert login.code == 0, login.stderr
    refused = run_rupu("auth", "login", "--provider", "ollama", input="x", env=no_keychain)
    assert refused.code == 2 and "needs no credentials" in refused.stderr
    with ChatCompletionsServer(
        api_key="gsk-stored-5e1f", path="/openai/v1/chat/completions"
    ) as server:
        workspace.write_config(f'[providers.groq]\nbase_url = "{server.base_url}/openai/v1"\n')
        workspace.write_agent("fast", "---\nname: fast\nprovider: groq\nmodel: m\n---\n\nGo.\n")
        server.script.append(stream_reply(text_stream(["Stored."], model="m", with_usage=usage())))
        result = run_rupu("run", "--agent", "fast", "hi", env=no_keychain)
    assert result.code == 0, result.stderr
    assert "groq · m · api-key from auth.json" in result.stderr


@pytest.mark.parametrize(
    ("status", "error_type", "message"),
    [
        (
            400,
            "invalid_request_error",
            "Your credit balance is too low to access the Anthropic API.",
        ),
        (429, "rate_limit_error", "Your credit balance is too low"),
    ],
)
def test_credit_balance_too_low_is_neither_retried_nor_failed_over(
    workspace: Workspace, status: int, error_type: str, message: str
) -> None:
    with (
        AnthropicServer(api_key="ak-canary") as anthropic,
        ChatCompletionsServer(api_key=KS) as secondary,
    ):
        workspace.write_config(
            f'[providers.anthropic]\nbase_url = "{anthropic.base_url}"\n'
            f'[providers.secondary]\nbase_url = "{secondary.base_url}"\n'
        )
        anthropic.script.append(anthropic_error(status, error_type, message))
        workspace.write_agent(
            "helper",
            "---\nname: helper\nprovider: anthropic\nmodel: claude-sonnet-4-6\n"
            "fallback: [secondary:m2]\n---\n\nYou help.\n",
        )
        result = run_rupu(
            "run", "--agent", "helper", "hi", env={"ANTHROPIC_API_KEY": "ak-canary", **ENV}
        )
        anthropic.assert_clean()
        secondary.assert_clean()
    assert result.code == 3, result.stderr
    assert "credit balance is too low" in result.stderr
    assert "not failed over: quota and billing need your action" in result.stderr
    assert len(anthropic.requests) == 1, "a quota error is not retried"
    assert secondary.requests == [], "a quota error does not fail over"


def test_groq_sends_reasoning_effort_only_to_reasoning_models(workspace: Workspace) -> None:
    with ChatCompletionsServer(api_key="gsk-canary", path="/openai/v1/chat/completions") as server:
        workspace.write_config(f'[providers.groq]\nbase_url = "{server.base_url}/openai/v1"\n')
        models = ["llama-3.3-70b-versatile", "openai/gpt-oss-120b", "qwen/qwen3-32b"]
        for model in models:
            workspace.write_agent(
                model.replace("/", "-"),
                f"---\nname: {model.replace('/', '-')}\nprovider: groq\nmodel: {model}\n"
                "effort: high\n---\n\nThink.\n",
            )
            server.script.append(stream_reply(text_stream(["ok"], model=model, with_usage=usage())))
            result = run_rupu(
                "run", "--agent", model.replace("/", "-"), "hi", env={"GROQ_API_KEY": "gsk-canary"}
            )
            assert result.code == 0, result.stderr
        server.assert_clean()
    sent = {r.body["model"]: r.body.get("reasoning_effort") for r in server.requests}
    assert sent == {
        "llama-3.3-70b-versatile": None,
        "openai/gpt-oss-120b": "high",
        "qwen/qwen3-32b": "high",
    }
    assert "reasoning_effort" not in server.requests[0].body
