"""Claude models on Vertex AI, reached through the gemini provider's Vertex route: the Anthropic
Messages body (without `model`, with Vertex's `anthropic_version`) posted to
`{host}/v1/projects/{p}/locations/{r}/publishers/anthropic/models/{model}:streamRawPredict`, and the
Messages event stream back. Encoding and decoding are the anthropic dialect's."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from rupu.messages import ModelRequest
from rupu.providers.anthropic import MessagesEvents
from rupu.providers.anthropic_decode import MessagesStreamDecoder
from rupu.providers.anthropic_encode import encode_request

VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"
VARIANT = "vertex-anthropic"


def is_claude(model: str) -> bool:
    return model.removeprefix("models/").lower().startswith("claude")


def vertex_host(base_url: str | None, region: str) -> str:
    if base_url:
        return base_url.rstrip("/")
    if region == "global":
        return "https://aiplatform.googleapis.com"
    return f"https://{region}-aiplatform.googleapis.com"


def claude_url(base_url: str | None, project: str, region: str, model: str) -> str:
    return (
        f"{vertex_host(base_url, region)}/v1/projects/{quote(project)}/locations/{quote(region)}"
        f"/publishers/anthropic/models/{quote(model)}:streamRawPredict"
    )


def claude_body(request: ModelRequest, *, provider: str) -> dict[str, Any]:
    body = encode_request(request, provider=provider, sso=False)
    del body["model"]  # the model is in the URL
    body["anthropic_version"] = VERTEX_ANTHROPIC_VERSION
    return body


def claude_events(
    provider: str, request: ModelRequest, request_id: str | None, url: str
) -> MessagesEvents:
    decoder = MessagesStreamDecoder(provider, model=request.model, request_id=request_id)
    return MessagesEvents(decoder, url)
