"""The loopback Messages server must refuse what the real API refuses, or its approval of rupu's
requests would prove nothing. Each case is one mistake in an otherwise valid request."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.servers.anthropic import IDENTITY, AnthropicServer
from tests.servers.anthropic_validate import validate_body, validate_with_sdk
from tests.servers.base import ValidationFailed

VALID: dict[str, Any] = {
    "model": "claude-test-1",
    "max_tokens": 4096,
    "stream": True,
    "system": "Be terse.",
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "tools": [{"name": "read_file", "input_schema": {"type": "object"}}],
    "messages": [
        {"role": "user", "content": "read a"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hm", "signature": "sig"},
                {"type": "tool_use", "id": "toolu_1", "name": "read_file", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "x"},
                {"type": "text", "text": "thanks"},
            ],
        },
    ],
}


def edit(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    body = copy.deepcopy(VALID)
    change(body)
    return body


BAD: dict[str, Callable[[dict[str, Any]], None]] = {
    "no max_tokens": lambda b: b.pop("max_tokens"),
    "unknown key": lambda b: b.update(temperature_x=1),
    "not streaming": lambda b: b.update(stream=False),
    "budget not below max_tokens": lambda b: b.update(max_tokens=1024),
    "budget under 1024": lambda b: b["thinking"].update(budget_tokens=512),
    "two user messages in a row": lambda b: b["messages"].insert(
        1, {"role": "user", "content": "again"}
    ),
    "assistant first": lambda b: b["messages"].pop(0),
    "empty text": lambda b: b["messages"][2]["content"].append({"type": "text", "text": " "}),
    "tool_result after text": lambda b: b["messages"][2]["content"].reverse(),
    "unanswered tool_use": lambda b: b["messages"][2].update(content="no results"),
    "tool_result for an unknown call": lambda b: b["messages"][2]["content"][0].update(
        tool_use_id="toolu_9"
    ),
    "thinking without signature": lambda b: b["messages"][1]["content"][0].update(signature=""),
    "tool turn without its thinking": lambda b: b["messages"][1]["content"].pop(0),
    "tool_use in a user message": lambda b: b["messages"][0].update(
        content=[{"type": "tool_use", "id": "t", "name": "n", "input": {}}]
    ),
    "bad tool name": lambda b: b["tools"][0].update(name="read file"),
    "schema not an object": lambda b: b["tools"][0].update(input_schema={"type": "string"}),
    "extra key on a block": lambda b: b["messages"][1]["content"][1].update(extra=1),
    "open output schema": lambda b: b.update(
        output_config={"format": {"type": "json_schema", "schema": {"type": "object"}}}
    ),
}


@pytest.mark.parametrize("mistake", sorted(BAD))
def test_strict_checks_refuse_each_mistake(mistake: str) -> None:
    validate_body(copy.deepcopy(VALID))
    with pytest.raises(ValidationFailed):
        validate_body(edit(BAD[mistake]))


def test_the_sdk_request_types_catch_what_the_hand_checks_do_not() -> None:
    body = edit(lambda b: b.update(metadata={"user_id": 42}))
    validate_body(body)
    with pytest.raises(ValidationFailed, match="anthropic SDK rejects"):
        validate_with_sdk(body)


@pytest.mark.parametrize(
    "headers",
    [
        {"x-api-key": "test-key"},  # no anthropic-version
        {"x-api-key": "test-key", "anthropic-version": "2022-01-01"},
        {
            "x-api-key": "test-key",
            "authorization": "Bearer sso-token-1",
            "anthropic-version": "2023-06-01",
        },
        {"authorization": "Bearer sso-token-1", "anthropic-version": "2023-06-01"},  # no betas
        {
            # betas present, but the system prompt does not start with the identity line
            "authorization": "Bearer sso-token-1",
            "anthropic-version": "2023-06-01",
            "anthropic-beta": "claude-code-20250219,oauth-2025-04-20",
        },
    ],
)
def test_server_refuses_bad_headers_with_400_and_records_it(headers: dict[str, str]) -> None:
    with AnthropicServer() as server:
        response = httpx.post(f"{server.base_url}/v1/messages", json=VALID, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert len(server.take_violations()) == 1


def test_sign_in_request_with_betas_and_identity_passes_validation() -> None:
    body = edit(lambda b: b.update(system=[{"type": "text", "text": IDENTITY}]))
    headers = {
        "authorization": "Bearer sso-token-1",
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "oauth-2025-04-20,claude-code-20250219",
    }
    with AnthropicServer() as server:
        response = httpx.post(f"{server.base_url}/v1/messages", json=body, headers=headers)
    # Valid, but nothing was scripted: the base server answers 500 "no scripted reply".
    assert response.status_code == 500 and server.violations == []


def test_wrong_key_is_a_401_not_a_violation() -> None:
    headers = {"x-api-key": "nope", "anthropic-version": "2023-06-01"}
    with AnthropicServer() as server:
        response = httpx.post(f"{server.base_url}/v1/messages", json=VALID, headers=headers)
    assert response.status_code == 401 and server.violations == []
    assert response.json()["error"]["type"] == "authentication_error"
