"""A loopback Gemini server speaking all three routes rupu uses:

- AI Studio: `POST /v1beta/models/{model}:streamGenerateContent?alt=sse` with `x-goog-api-key`;
- Vertex AI: `POST /v1/projects/{p}/locations/{r}/publishers/google/models/{model}:streamGenerateContent`
  with a bearer token; by API key (express mode) `POST /v1/publishers/google/models/{model}:...`
  with `x-goog-api-key`;
- Code Assist: `POST /v1internal:streamGenerateContent` (the `{model, project, user_prompt_id,
  request}` envelope, chunks wrapped as `{response, traceId}`) with a bearer token, plus the project
  discovery methods `loadCodeAssist`, `onboardUser` and `GET /v1internal/operations/{id}`.

Every generateContent body is validated strictly (keys, strict user/model alternation, one data field
per part, base64 signatures, as many function responses as the model turn made calls) and then by
google-genai's own pydantic types (`Content`, `Tool`, `GenerationConfig`). Scripted replies come from
tests/servers/gemini_streams.py.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from aiohttp import web

from tests.servers.base import LoopbackServer, RecordedRequest, ValidationFailed
from tests.servers.gemini_streams import google_error

BODY_KEYS = {
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "safetySettings",
    "generationConfig",
    "cachedContent",
    "labels",
    "serviceTier",
    "store",
}
ENVELOPE_KEYS = {"model", "project", "user_prompt_id", "request"}
DATA_FIELDS = {
    "text",
    "functionCall",
    "functionResponse",
    "inlineData",
    "fileData",
    "executableCode",
    "codeExecutionResult",
}
PART_EXTRAS = {"thought", "thoughtSignature", "partMetadata", "videoMetadata", "mediaResolution"}
FUNCTION_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_.:-]{0,127}$")
METADATA = {
    "ideType": "IDE_UNSPECIFIED",
    "platform": "PLATFORM_UNSPECIFIED",
    "pluginType": "GEMINI",
}


class GeminiServer(LoopbackServer):
    """`api_key` is what AI Studio (and Vertex, when `vertex_key` is set) accepts; `token` is the
    bearer the sign-in routes accept; bearers in `expired_tokens` get a 401 (not a violation)."""

    def __init__(
        self,
        *,
        api_key: str = "test-gemini-key",
        token: str = "ya29.test-token",
        project: str = "test-project",
        region: str = "us-central1",
        onboarded: bool = True,
        default_tier: str = "free-tier",
        onboard_polls: int = 1,
        ineligible: list[str] | None = None,
        vertex_key: bool = False,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.token = token
        self.expired_tokens: set[str] = set()
        self.project = project
        self.region = region
        self.onboarded = onboarded
        self.default_tier = default_tier
        self.onboard_polls = onboard_polls
        self.ineligible = ineligible or []
        self.vertex_key = vertex_key
        self._polls = 0

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1beta/models/{target}", self.handle)
        app.router.add_post(
            "/v1/projects/{project}/locations/{region}/publishers/google/models/{target}",
            self.handle,
        )
        app.router.add_post("/v1/publishers/google/models/{target}", self.handle)
        app.router.add_post("/v1internal:streamGenerateContent", self.handle)
        app.router.add_post("/v1internal:loadCodeAssist", self.discovery)
        app.router.add_post("/v1internal:onboardUser", self.discovery)
        app.router.add_get("/v1internal/operations/{op}", self.discovery)

    # -- auth -------------------------------------------------------------------------------------
    def route_of(self, request: RecordedRequest) -> str:
        if request.path.startswith("/v1internal"):
            return "code-assist"
        if request.path.startswith("/v1/publishers/"):
            return "vertex-express"
        return "vertex" if request.path.startswith("/v1/projects/") else "ai-studio"

    def _auth_reply(self, request: RecordedRequest) -> web.Response | None:
        """A 401 for an expired bearer; None when the credential is right. Wrong ones raise."""
        route = self.route_of(request)
        headers = request.headers
        if route in ("ai-studio", "vertex-express") or (route == "vertex" and self.vertex_key):
            if "authorization" in headers:
                raise ValidationFailed("an API-key route got an Authorization header")
            if headers.get("x-goog-api-key") != self.api_key:
                raise ValidationFailed("missing or wrong x-goog-api-key")
            if "key" in request.query:
                raise ValidationFailed("the key belongs in the header, not the URL")
            return None
        if "x-goog-api-key" in headers:
            raise ValidationFailed("a bearer route got an x-goog-api-key header")
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            raise ValidationFailed("missing bearer token")
        if auth[7:] in self.expired_tokens:
            body = google_error(
                401, "Request had invalid authentication credentials.", "UNAUTHENTICATED"
            )
            return web.Response(status=401, body=body, content_type="application/json")
        if auth[7:] != self.token:
            raise ValidationFailed("wrong bearer token")
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        recorded = await self.record(request)
        try:
            denied = self._auth_reply(recorded)
            if denied is not None:
                return denied
            self.validate(recorded)
        except ValidationFailed as exc:
            self.violations.append(str(exc))
            body = google_error(400, str(exc), "INVALID_ARGUMENT")
            return web.Response(status=400, body=body, content_type="application/json")
        return await self.send(request, self.next_reply(recorded))

    # -- generateContent ----------------------------------------------------------------------------
    def validate(self, request: RecordedRequest) -> None:
        if request.query.get("alt") != "sse":
            raise ValidationFailed("streaming needs ?alt=sse")
        if not request.headers.get("content-type", "").startswith("application/json"):
            raise ValidationFailed("content-type must be application/json")
        body = request.body
        if not isinstance(body, dict):
            raise ValidationFailed("body must be a JSON object")
        route = self.route_of(request)
        if route == "code-assist":
            body = self._validate_envelope(body)
        else:
            model, _, action = request.path.rsplit("/", 1)[1].partition(":")
            if action != "streamGenerateContent" or not model.startswith("gemini"):
                raise ValidationFailed(f"bad model/action in path {request.path}")
            if route == "vertex":
                parts = request.path.split("/")
                if parts[3] != self.project or parts[5] != self.region:
                    raise ValidationFailed(f"wrong project/region in {request.path}")
        validate_generate_content(body)

    def _validate_envelope(self, body: dict[str, Any]) -> dict[str, Any]:
        if set(body) - ENVELOPE_KEYS or not {"model", "project", "request"} <= set(body):
            raise ValidationFailed(f"bad Code Assist envelope keys {sorted(body)}")
        if not isinstance(body["model"], str) or not body["model"].startswith("gemini"):
            raise ValidationFailed("envelope model must be a bare gemini model id")
        if body["project"] != self.project:
            raise ValidationFailed(f"project {body['project']!r} is not this account's")
        if not isinstance(body.get("user_prompt_id"), str) or not body["user_prompt_id"]:
            raise ValidationFailed("user_prompt_id must be a non-empty string")
        inner = body["request"]
        if not isinstance(inner, dict):
            raise ValidationFailed("request must be an object")
        session = inner.get("session_id")
        if session is not None and not isinstance(session, str):
            raise ValidationFailed("session_id must be a string")
        return {k: v for k, v in inner.items() if k != "session_id"}

    # -- project discovery ------------------------------------------------------------------------
    async def discovery(self, request: web.Request) -> web.StreamResponse:
        recorded = await self.record(request)
        try:
            denied = self._auth_reply(recorded)
            if denied is not None:
                return denied
            answer = self._discovery_answer(recorded)
        except ValidationFailed as exc:
            self.violations.append(str(exc))
            body = google_error(400, str(exc), "INVALID_ARGUMENT")
            return web.Response(status=400, body=body, content_type="application/json")
        return web.Response(body=orjson.dumps(answer), content_type="application/json")

    def _discovery_answer(self, request: RecordedRequest) -> dict[str, Any]:
        body = request.body
        if request.method == "GET":
            self._polls += 1
            if self._polls < self.onboard_polls:
                return {"name": f"operations/{request.path.rsplit('/', 1)[1]}", "done": False}
            self.onboarded = True
            return {
                "name": "operations/onboard-1",
                "done": True,
                "response": {
                    "@type": "type.googleapis.com/google.internal.cloud.code.v1internal.OnboardUserResponse",
                    "cloudaicompanionProject": {"id": self.project, "name": self.project},
                },
            }
        if not isinstance(body, dict) or body.get("metadata", {}).items() < METADATA.items():
            raise ValidationFailed(f"client metadata missing in {body!r}")
        if request.path.endswith("loadCodeAssist"):
            if set(body) - {"metadata", "cloudaicompanionProject"}:
                raise ValidationFailed(f"unknown loadCodeAssist keys {sorted(body)}")
            if self.onboarded:
                return {
                    "currentTier": {"id": self.default_tier, "name": "Gemini Code Assist"},
                    "cloudaicompanionProject": self.project,
                }
            answer: dict[str, Any] = {
                "allowedTiers": [
                    {
                        "id": self.default_tier,
                        "isDefault": True,
                        "userDefinedCloudaicompanionProject": self.default_tier != "free-tier",
                    }
                ]
            }
            if self.ineligible:
                answer["ineligibleTiers"] = [
                    {"reasonCode": "INELIGIBLE_ACCOUNT", "reasonMessage": m}
                    for m in self.ineligible
                ]
            return answer
        if set(body) - {"tierId", "metadata", "cloudaicompanionProject"}:
            raise ValidationFailed(f"unknown onboardUser keys {sorted(body)}")
        if body.get("tierId") != self.default_tier:
            raise ValidationFailed(f"onboarding to tier {body.get('tierId')!r}, not the default")
        if body.get("tierId") == "free-tier" and body.get("cloudaicompanionProject"):
            raise ValidationFailed(
                "free tier onboarding must not name a project (Precondition Failed)"
            )
        self._polls = 0
        return {"name": "operations/onboard-1", "done": False}


def validate_generate_content(body: dict[str, Any]) -> None:
    unknown = set(body) - BODY_KEYS
    if unknown:
        raise ValidationFailed(f"unknown keys {sorted(unknown)}")
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise ValidationFailed("contents must be a non-empty list")
    expected = "user"
    pending_calls = 0
    for index, content in enumerate(contents):
        if not isinstance(content, dict) or set(content) - {"role", "parts"}:
            raise ValidationFailed(f"contents[{index}] must be {{role, parts}}")
        if content.get("role") != expected:
            raise ValidationFailed(
                f"contents[{index}] has role {content.get('role')!r}, expected {expected!r}"
            )
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            raise ValidationFailed(f"contents[{index}] has no parts")
        for number, part in enumerate(parts):
            validate_part(f"contents[{index}].parts[{number}]", part, content["role"])
        responses = sum(1 for p in parts if "functionResponse" in p)
        if pending_calls and responses != pending_calls:
            raise ValidationFailed(
                f"contents[{index}] answers {responses} of {pending_calls} function calls"
            )
        if responses and not pending_calls:
            raise ValidationFailed(f"contents[{index}] has function responses without calls")
        pending_calls = sum(1 for p in parts if "functionCall" in p)
        expected = "model" if expected == "user" else "user"
    if contents[-1]["role"] != "user":
        raise ValidationFailed("the last content must be the user's")
    if "systemInstruction" in body:
        system = body["systemInstruction"]
        if not isinstance(system, dict) or not system.get("parts"):
            raise ValidationFailed("systemInstruction must be a Content with parts")
    for tool in body.get("tools") or []:
        for declaration in tool.get("functionDeclarations") or []:
            if not FUNCTION_NAME.match(str(declaration.get("name", ""))):
                raise ValidationFailed(f"bad function name {declaration.get('name')!r}")
            schema = declaration.get("parametersJsonSchema")
            if ("parameters" in declaration) == (schema is not None):
                raise ValidationFailed("give exactly one of parameters / parametersJsonSchema")
            if schema is not None and (schema.get("type") != "object" or "$schema" in schema):
                raise ValidationFailed(
                    "parametersJsonSchema must be an object schema without $schema"
                )
    if "tools" in body and not body["tools"]:
        raise ValidationFailed("tools must not be empty when present")
    thinking = (body.get("generationConfig") or {}).get("thinkingConfig") or {}
    if "thinkingLevel" in thinking and "thinkingBudget" in thinking:
        raise ValidationFailed("thinkingLevel and thinkingBudget are mutually exclusive")
    validate_with_sdk(body)


def validate_part(where: str, part: Any, role: str) -> None:
    if not isinstance(part, dict):
        raise ValidationFailed(f"{where} must be an object")
    data = set(part) & DATA_FIELDS
    if len(data) != 1 or set(part) - DATA_FIELDS - PART_EXTRAS:
        raise ValidationFailed(f"{where} needs exactly one data field, has {sorted(part)}")
    if "functionCall" in part:
        call = part["functionCall"]
        if role != "model" or not call.get("name") or not isinstance(call.get("args", {}), dict):
            raise ValidationFailed(f"{where}: bad functionCall {call!r}")
    if "functionResponse" in part:
        response = part["functionResponse"]
        if (
            role != "user"
            or not response.get("name")
            or not isinstance(response.get("response"), dict)
        ):
            raise ValidationFailed(f"{where}: bad functionResponse {response!r}")
    if part.get("thought") and role != "model":
        raise ValidationFailed(f"{where}: only the model has thoughts")


def validate_with_sdk(body: dict[str, Any]) -> None:
    """google-genai's own types (extra='forbid', base64 bytes) must accept every piece."""
    from google.genai import types
    from pydantic import ValidationError

    pieces: list[tuple[str, Any, Any]] = [("contents", types.Content, c) for c in body["contents"]]
    if "systemInstruction" in body:
        pieces.append(("systemInstruction", types.Content, body["systemInstruction"]))
    pieces += [("tools", types.Tool, t) for t in body.get("tools") or []]
    if "generationConfig" in body:
        pieces.append(("generationConfig", types.GenerationConfig, body["generationConfig"]))
    for name, model, value in pieces:
        try:
            model.model_validate_json(orjson.dumps(value))
        except ValidationError as exc:
            raise ValidationFailed(
                f"google-genai rejects {name}: {exc.errors()[0]['msg']}"
            ) from None
