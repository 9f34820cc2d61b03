"""Bedrock's model list for `rupu models refresh`: the control plane's `ListFoundationModels`
(`GET {control}/foundation-models`, the record's `[bedrock.models]`), then `ListInferenceProfiles`
(`GET {control}/inference-profiles`, paged by `nextToken`), each request signed with SigV4 by
botocore (`providers.bedrock.signed_headers`) for the credential's region.

A foundation model is listed when it answers text on demand with streaming (the ids Converse takes
directly); provisioned-only models (newer Claude models, say) are reached through an inference
profile, which the second list adds (`us.anthropic...`, `global.anthropic...`, application
profiles' ids).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from rupu.auth.aws import AwsCredential
from rupu.auth.credentials import Credential
from rupu.catalog.list_pages import Page, PageRequest
from rupu.config import ProviderConfig
from rupu.config.builtins import ModelListing, builtin, builtin_url
from rupu.errors import CredentialError, ProviderError
from rupu.modeldata.schema import LiveModel
from rupu.providers.bedrock import regional, signed_headers
from rupu.version import __version__

PROFILES_PATH = "/inference-profiles"
PROFILES_ITEMS = "inferenceProfileSummaries"
PROFILES_PAGE_SIZE = "1000"


def _listing() -> ModelListing:
    listing = builtin("bedrock").models
    assert listing is not None, "the bedrock record names its model list"
    return listing


@dataclass(slots=True)
class BedrockLister:
    provider: str
    root: str
    credential: AwsCredential

    def first(self) -> PageRequest:
        listing = _listing()
        return self._signed(listing.path, listing.query)

    def parse(self, body: Any, request: PageRequest) -> Page:
        if not isinstance(body, dict):
            raise self._malformed(request.url, "not a JSON object")
        if request.url.startswith(self.root + _listing().path):
            models = [
                LiveModel(id=item["modelId"], name=item.get("modelName") or None)
                for item in self._items(body, _listing().items, request.url)
                if _on_demand_text(item)
            ]
            return models, self._profiles_page(None)
        models = [
            LiveModel(id=item["inferenceProfileId"], name=item.get("inferenceProfileName") or None)
            for item in self._items(body, PROFILES_ITEMS, request.url)
            if item.get("status", "ACTIVE") == "ACTIVE" and item.get("inferenceProfileId")
        ]
        token = body.get("nextToken")
        return models, self._profiles_page(token) if isinstance(token, str) and token else None

    def _profiles_page(self, token: str | None) -> PageRequest:
        query = {"maxResults": PROFILES_PAGE_SIZE, **({"nextToken": token} if token else {})}
        return self._signed(PROFILES_PATH, query)

    def _signed(self, path: str, query: dict[str, str]) -> PageRequest:
        url = f"{self.root}{path}" + (f"?{urlencode(sorted(query.items()))}" if query else "")
        base = {"accept": "application/json", "user-agent": f"rupu/{__version__}"}
        return PageRequest(url, signed_headers(self.credential, "GET", url, b"", base))

    def _items(self, body: dict[str, Any], key: str, url: str) -> list[dict[str, Any]]:
        items = body.get(key)
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise self._malformed(url, f"no '{key}' list")
        return items

    def _malformed(self, url: str, what: str) -> ProviderError:
        return ProviderError(
            self.provider,
            f"unexpected model list from {url}: {what}",
            error_type="malformed_response",
            hint="check control_base_url points at the Bedrock control plane",
        )


def _on_demand_text(item: dict[str, Any]) -> bool:
    return (
        bool(item.get("modelId"))
        and "TEXT" in (item.get("outputModalities") or [])
        and "ON_DEMAND" in (item.get("inferenceTypesSupported") or [])
        and item.get("responseStreamingSupported") is not False
    )


def bedrock_lister(provider: str, config: ProviderConfig, credential: Credential) -> BedrockLister:
    if not isinstance(credential, AwsCredential):
        raise CredentialError(provider, "Bedrock's model list needs AWS credentials")
    control = config.control_base_url or builtin_url("bedrock", "control_base_url")
    return BedrockLister(provider, regional(control, credential.region), credential)
