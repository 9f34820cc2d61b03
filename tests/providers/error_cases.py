"""The dialects of the error-class table test (tests/providers/test_error_classes.py): how to build
each provider against its loopback server, and each API's real error answers with the class each one is."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from rupu.auth.aws import AwsCredential
from rupu.auth.credentials import Credential, FixedCredential, Secret
from rupu.config import ProviderConfig
from rupu.errors import (
    AccessDenied,
    AuthExpired,
    AuthRejected,
    BadRequest,
    ContentRefused,
    ContextOverflow,
    Overloaded,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    ServerError,
    StreamInterrupted,
    TimedOut,
)
from rupu.providers.base import Provider, ProviderSetup
from rupu.providers.copilot import CopilotProvider
from rupu.providers.registry import build_provider
from rupu.providers.retry import RetryPolicy
from rupu.testing import FakeClock
from tests.servers import anthropic as messages
from tests.servers import bedrock
from tests.servers import gemini_streams as google
from tests.servers import openai_chat as chat
from tests.servers import openai_responses as responses
from tests.servers.anthropic import AnthropicServer
from tests.servers.base import LoopbackServer, Reply, sse
from tests.servers.bedrock import BedrockServer
from tests.servers.bedrock_wire import AwsKeys
from tests.servers.copilot import EXCHANGE_PATH, CopilotServer, copilot_error
from tests.servers.gemini import GeminiServer
from tests.servers.openai_chat import ChatCompletionsServer
from tests.servers.openai_responses import ResponsesServer, ResponseStream

Build = Callable[[str, RetryPolicy, FakeClock], Provider]


@dataclass(frozen=True)
class Dialect:
    name: str
    kind: str
    model: str
    server: Callable[[], LoopbackServer]
    build: Build  # a provider of this dialect at base_url


def setup_for(name: str, kind: str, config: ProviderConfig, secret: str | None) -> ProviderSetup:
    credentials = None
    if secret is not None:
        credentials = FixedCredential(Credential(name, "api-key", Secret(secret), "test"))
    return ProviderSetup(name=name, kind=kind, config=config, credentials=credentials)


def built(setup: ProviderSetup, policy: RetryPolicy, clock: FakeClock) -> Provider:
    return build_provider(dataclasses.replace(setup, retry=policy, clock=clock))


def _simple(name: str, kind: str, secret: str) -> Build:
    def build(base_url: str, policy: RetryPolicy, clock: FakeClock) -> Provider:
        config = ProviderConfig(base_url=base_url, sso_base_url=base_url)
        return built(setup_for(name, kind, config, secret), policy, clock)

    return build


def _copilot(base_url: str, policy: RetryPolicy, clock: FakeClock) -> Provider:
    config = ProviderConfig(token_exchange_url=base_url + EXCHANGE_PATH)
    setup = setup_for("copilot", "copilot", config, "ghp_test_github_token")
    # the token cache keeps the system clock: the server dates its tokens with it
    return CopilotProvider(dataclasses.replace(setup, retry=policy, sleep=clock.sleep))


ANTHROPIC = Dialect(
    "anthropic",
    "anthropic",
    messages.MODEL,
    AnthropicServer,
    _simple("anthropic", "anthropic", "test-key"),
)
RESPONSES = Dialect(
    "openai_responses",
    "openai",
    "gpt-test",
    ResponsesServer,
    _simple("openai", "openai", "sk-test-key"),
)
CHAT = Dialect(
    "openai_chat",
    "openai-compatible",
    "m1",
    ChatCompletionsServer,
    _simple("compat", "openai-compatible", "test-key"),
)
GEMINI = Dialect(
    "gemini",
    "gemini",
    "gemini-2.5-flash",
    GeminiServer,
    _simple("gemini", "gemini", "test-gemini-key"),
)
COPILOT = Dialect("copilot", "copilot", "gpt-4.1", CopilotServer, _copilot)
AWS_KEYS = AwsKeys("AKIAERRORCASES01", "error/cases/secret")


def _bedrock(base_url: str, policy: RetryPolicy, clock: FakeClock) -> Provider:
    credential = AwsCredential(
        "bedrock",
        "api-key",
        Secret(AWS_KEYS.secret_key),
        "test",
        access_key=AWS_KEYS.access_key,
        region="us-west-2",
    )
    setup = ProviderSetup("bedrock", "bedrock", ProviderConfig(base_url=base_url), None)
    setup = dataclasses.replace(setup, credentials=FixedCredential(credential))
    return built(setup, policy, clock)


BEDROCK = Dialect(
    "bedrock",
    "bedrock",
    "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    lambda: BedrockServer({AWS_KEYS.access_key: AWS_KEYS}),
    _bedrock,
)


def _anthropic_stream_error(error_type: str, message: str) -> Reply:
    return messages.stream_reply(
        [messages.message_start(), messages.error_event(error_type, message)]
    )


def _chat_stream_error(error_type: str, message: str) -> Reply:
    body = {"error": {"message": message, "type": error_type, "param": None, "code": None}}
    return chat.stream_reply([sse(body)])


def _google_stream_error(code: int, message: str, status: str) -> Reply:
    return Reply(
        chunks=[google.encode_sse({"error": {"code": code, "message": message, "status": status}})]
    )


def _responses_failed(code: str, message: str) -> Reply:
    return responses.stream_reply(ResponseStream().failed(code, message))


def _responses_error(code: str, message: str) -> Reply:
    return responses.stream_reply(ResponseStream().error(code, message))


TOO_LONG = "prompt is too long: 210000 tokens > 200000 maximum"
CREDIT = "Your credit balance is too low to access the Anthropic API"
POLICY = "The request was rejected under the content policy"

# (dialect, the provider's answer, the class it is). Bodies and in-stream events in each API's own
# envelope, as tests/servers sends them (see /work/shared/reference/wire-formats.md).
CASES: list[tuple[Dialect, Reply, type[ProviderError]]] = [
    (ANTHROPIC, messages.error_reply(429, "rate_limit_error", "Rate limited"), RateLimited),
    (ANTHROPIC, messages.error_reply(400, "invalid_request_error", CREDIT), QuotaExhausted),
    (ANTHROPIC, messages.error_reply(529, "overloaded_error", "Overloaded"), Overloaded),
    (ANTHROPIC, messages.error_reply(500, "api_error", "Internal server error"), ServerError),
    (ANTHROPIC, messages.html_502(), ServerError),
    (ANTHROPIC, messages.stream_reply([messages.message_start()]), StreamInterrupted),
    (ANTHROPIC, messages.error_reply(408, "timeout_error", "Request timeout"), TimedOut),
    (
        ANTHROPIC,
        messages.error_reply(401, "authentication_error", "invalid x-api-key"),
        AuthRejected,
    ),
    (
        ANTHROPIC,
        messages.error_reply(401, "authentication_error", "OAuth token has expired"),
        AuthExpired,
    ),
    (ANTHROPIC, messages.error_reply(403, "permission_error", "no access to model"), AccessDenied),
    (
        ANTHROPIC,
        messages.error_reply(400, "invalid_request_error", "max_tokens: too big"),
        BadRequest,
    ),
    (ANTHROPIC, messages.error_reply(400, "invalid_request_error", TOO_LONG), ContextOverflow),
    (
        ANTHROPIC,
        messages.error_reply(413, "request_too_large", "Request exceeds the maximum size"),
        ContextOverflow,
    ),
    (ANTHROPIC, _anthropic_stream_error("overloaded_error", "Overloaded"), Overloaded),
    (ANTHROPIC, _anthropic_stream_error("rate_limit_error", "Rate limited"), RateLimited),
    (ANTHROPIC, _anthropic_stream_error("api_error", "Internal server error"), ServerError),
    (ANTHROPIC, _anthropic_stream_error("billing_error", CREDIT), QuotaExhausted),
    (ANTHROPIC, _anthropic_stream_error("invalid_request_error", "bad"), BadRequest),
    (
        RESPONSES,
        responses.error_reply(429, "Rate limit reached", "requests", code="rate_limit_exceeded"),
        RateLimited,
    ),
    (
        RESPONSES,
        responses.error_reply(429, "You exceeded your current quota", "insufficient_quota"),
        QuotaExhausted,
    ),
    (
        RESPONSES,
        responses.error_reply(503, "The engine is currently overloaded", "server_error"),
        Overloaded,
    ),
    (RESPONSES, responses.error_reply(500, "The server had an error", "server_error"), ServerError),
    (RESPONSES, responses.stream_reply(ResponseStream()), StreamInterrupted),
    (
        RESPONSES,
        responses.error_reply(
            401, "Incorrect API key provided", "invalid_request_error", code="invalid_api_key"
        ),
        AuthRejected,
    ),
    (
        RESPONSES,
        responses.error_reply(
            403, "You are not allowed to sample from this model", "invalid_request_error"
        ),
        AccessDenied,
    ),
    (
        RESPONSES,
        responses.error_reply(400, "Unknown parameter: 'foo'", "invalid_request_error"),
        BadRequest,
    ),
    (
        RESPONSES,
        responses.error_reply(
            400,
            "This model's maximum context length is 8192 tokens",
            "invalid_request_error",
            code="context_length_exceeded",
        ),
        ContextOverflow,
    ),
    (
        RESPONSES,
        responses.error_reply(
            400, "Invalid prompt: flagged by moderation", "invalid_request_error"
        ),
        ContentRefused,
    ),
    (RESPONSES, _responses_failed("server_error", "The server had an error"), ServerError),
    (RESPONSES, _responses_failed("rate_limit_exceeded", "Rate limit reached"), RateLimited),
    (
        RESPONSES,
        _responses_failed("context_length_exceeded", "Your input exceeds the context window"),
        ContextOverflow,
    ),
    (
        RESPONSES,
        _responses_error("insufficient_quota", "You exceeded your current quota"),
        QuotaExhausted,
    ),
    (RESPONSES, _responses_error("server_is_overloaded", "Overloaded"), Overloaded),
    (CHAT, chat.error_reply(429, "Rate limit reached for requests", "requests"), RateLimited),
    (CHAT, chat.error_reply(402, "Payment required", "payment_required"), QuotaExhausted),
    (CHAT, chat.error_reply(503, "The model is overloaded", "server_error"), Overloaded),
    (CHAT, chat.error_reply(502, "Bad gateway", "upstream_error"), ServerError),
    (CHAT, chat.stream_reply([]), StreamInterrupted),
    (CHAT, chat.error_reply(408, "Request timed out", "timeout"), TimedOut),
    (CHAT, chat.error_reply(401, "Invalid API key", "invalid_api_key"), AuthRejected),
    (CHAT, chat.error_reply(403, "Forbidden", "permission_denied"), AccessDenied),
    (CHAT, chat.error_reply(422, "Unprocessable entity", "invalid_request_error"), BadRequest),
    (
        CHAT,
        chat.error_reply(400, "Please reduce the length of the messages", "invalid_request_error"),
        ContextOverflow,
    ),
    (
        CHAT,
        chat.error_reply(400, "Blocked by the content_filter", "invalid_request_error"),
        ContentRefused,
    ),
    (CHAT, _chat_stream_error("server_error", "upstream failed"), ServerError),
    (CHAT, _chat_stream_error("internal_server_error", "upstream failed"), ServerError),
    (CHAT, _chat_stream_error("rate_limit_error", "slow down"), RateLimited),
    (CHAT, _chat_stream_error("invalid_request_error", "bad"), BadRequest),
    (GEMINI, google.rate_limited(), RateLimited),
    (
        GEMINI,
        google.error_reply(
            429,
            "Quota exceeded",
            "RESOURCE_EXHAUSTED",
            details=[google.quota_failure("GenerateRequestsPerDayPerProjectPerModel-FreeTier")],
        ),
        QuotaExhausted,
    ),
    (
        GEMINI,
        google.error_reply(503, "The model is overloaded. Please try again later.", "UNAVAILABLE"),
        Overloaded,
    ),
    (GEMINI, google.error_reply(500, "An internal error has occurred.", "INTERNAL"), ServerError),
    (GEMINI, Reply(chunks=[]), StreamInterrupted),
    (GEMINI, Reply(chunks=[b"data: {not json\r\n\r\n"]), StreamInterrupted),
    (GEMINI, google.error_reply(504, "Deadline exceeded", "DEADLINE_EXCEEDED"), TimedOut),
    (
        GEMINI,
        google.error_reply(
            401, "Request had invalid authentication credentials.", "UNAUTHENTICATED"
        ),
        AuthRejected,
    ),
    (GEMINI, google.error_reply(403, "Permission denied", "PERMISSION_DENIED"), AccessDenied),
    (GEMINI, google.error_reply(400, "Invalid JSON payload", "INVALID_ARGUMENT"), BadRequest),
    (
        GEMINI,
        google.error_reply(
            400, "The input token count (1200000) exceeds the maximum", "INVALID_ARGUMENT"
        ),
        ContextOverflow,
    ),
    (GEMINI, _google_stream_error(503, "The model is overloaded.", "UNAVAILABLE"), Overloaded),
    (GEMINI, _google_stream_error(500, "Internal error", "INTERNAL"), ServerError),
    (GEMINI, _google_stream_error(400, "Invalid argument", "INVALID_ARGUMENT"), BadRequest),
    (COPILOT, copilot_error(429, "Sorry, you have been rate-limited", "rate_limited"), RateLimited),
    (COPILOT, copilot_error(402, "You have no quota", "quota_exceeded"), QuotaExhausted),
    (COPILOT, copilot_error(503, "The model is overloaded", "server_error"), Overloaded),
    (COPILOT, copilot_error(500, "Internal error", "server_error"), ServerError),
    (COPILOT, chat.stream_reply([]), StreamInterrupted),
    (COPILOT, copilot_error(403, "Access to this model is denied", "forbidden"), AccessDenied),
    (COPILOT, copilot_error(400, "Bad request", "invalid_request_error"), BadRequest),
    (
        COPILOT,
        copilot_error(
            400,
            "prompt token count of 200000 exceeds the limit of 128000; reduce the length",
            "invalid_request_error",
            "model_max_prompt_tokens_exceeded",
        ),
        ContextOverflow,
    ),
    (COPILOT, _chat_stream_error("server_error", "upstream failed"), ServerError),
    (BEDROCK, bedrock.error_reply(429, "ThrottlingException", "Too many requests"), RateLimited),
    (
        BEDROCK,
        bedrock.error_reply(400, "ServiceQuotaExceededException", "Tokens per day exceeded"),
        QuotaExhausted,
    ),
    (
        BEDROCK,
        bedrock.error_reply(403, "AccessDeniedException", "not authorized to invoke"),
        AccessDenied,
    ),
    (
        BEDROCK,
        bedrock.error_reply(403, "ExpiredTokenException", "The security token has expired"),
        AuthExpired,
    ),
    (
        BEDROCK,
        bedrock.error_reply(403, "UnrecognizedClientException", "invalid security token"),
        AuthRejected,
    ),
    (
        BEDROCK,
        bedrock.error_reply(400, "ValidationException", "Input is too long for requested model."),
        ContextOverflow,
    ),
    (BEDROCK, bedrock.error_reply(400, "ValidationException", "maxTokens too big"), BadRequest),
    (BEDROCK, bedrock.error_reply(503, "ServiceUnavailableException", "try later"), Overloaded),
    (BEDROCK, bedrock.error_reply(500, "InternalServerException", "failed"), ServerError),
    (BEDROCK, bedrock.error_reply(408, "ModelTimeoutException", "timed out"), TimedOut),
    (BEDROCK, bedrock.stream_reply(bedrock.converse_stream([])[:2]), StreamInterrupted),
    (BEDROCK, bedrock.exception_reply("throttlingException", "slow down"), RateLimited),
    (BEDROCK, bedrock.exception_reply("modelStreamErrorException", "model failed"), ServerError),
    (
        BEDROCK,
        bedrock.exception_reply("validationException", "prompt is too long for this model"),
        ContextOverflow,
    ),
]
