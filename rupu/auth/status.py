"""What `rupu auth status` reports: per provider, what is stored, which credential a run would use
now and where it comes from, what it shadows; and the storage backend. Never a secret."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from rupu.auth.aws import chain_status, uses_aws_chain
from rupu.auth.files import StoreError
from rupu.auth.resolver import SSO_PROVIDERS, CredentialResolver, expiry_note
from rupu.auth.store import AuthStorage
from rupu.auth.stored import MemoryStore, StoredCredential
from rupu.config import ProviderConfig


@dataclass(slots=True)
class ProviderStatus:
    provider: str
    stored: dict[str, dict[str, Any]] = field(default_factory=dict)
    in_use: dict[str, str] | None = None
    shadowed: list[str] = field(default_factory=list)
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "stored": self.stored,
            "in_use": self.in_use,
            "shadowed": self.shadowed,
            "problem": self.problem,
        }


@dataclass(slots=True)
class StatusReport:
    backend: dict[str, Any]
    providers: list[ProviderStatus]

    def as_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "providers": [p.as_dict() for p in self.providers]}


class Snapshot(MemoryStore):
    """Everything stored, read once (each keychain read is a D-Bus round trip)."""

    def __init__(self, label: str, credentials: list[StoredCredential]) -> None:
        super().__init__()
        self.label = label
        for credential in credentials:
            self.put(credential)


def collect_status(
    resolver: CredentialResolver, storage: AuthStorage, declared: list[str]
) -> StatusReport:
    names = [*SSO_PROVIDERS, *(n for n in declared if n not in SSO_PROVIDERS)]
    backend = backend_info(storage)
    try:
        stored = storage.list(probe=tuple(names))
    except StoreError as exc:
        backend["problem"] = exc.one_line()
    else:
        resolver = replace(resolver, store=Snapshot(storage.label, stored))
        names.extend(sorted({c.provider for c in stored} - set(names)))
    providers = [provider_status(resolver, name) for name in names]
    for status in providers:
        if status.problem and status.problem == backend["problem"]:
            status.problem = "the credential store cannot be read (see problem below)"
    return StatusReport(backend, providers)


def provider_status(resolver: CredentialResolver, provider: str) -> ProviderStatus:
    status = ProviderStatus(provider)
    if uses_aws_chain(provider, resolver.config):
        return aws_status(resolver, status)
    try:
        plan = resolver.plan(provider)
    except StoreError as exc:
        status.problem = exc.one_line()
        return status
    now = resolver.clock.time()
    for candidate in plan.candidates:
        if candidate.stored is not None:
            status.stored[candidate.mode] = stored_info(candidate.stored, now)
    if plan.store_error is not None:
        status.problem = plan.store_error.one_line()
    if plan.blocked is not None:
        status.problem = plan.blocked.one_line()
    chosen = plan.chosen
    if chosen is not None and plan.blocked is None:
        status.in_use = {"mode": chosen.mode, "source": chosen.where}
        if chosen.note:
            status.in_use["note"] = chosen.note
        status.shadowed = [c.where for c in plan.shadowed]
    return status


def aws_status(resolver: CredentialResolver, status: ProviderStatus) -> ProviderStatus:
    """The AWS chain's answer: which link it is (botocore's `method`), never a key."""
    config = resolver.config.provider(status.provider) if resolver.config else ProviderConfig()
    source, problem = chain_status(status.provider, config, resolver.env)
    if source is not None:
        status.in_use = {"mode": "aws", "source": f"aws chain: {source}"}
    status.problem = problem
    return status


def stored_info(stored: StoredCredential, now: float) -> dict[str, Any]:
    info: dict[str, Any] = {"updated_at": stored.updated_at}
    if stored.mode == "sso":
        info["expires_at"] = stored.expires_at
        info["expires_in"] = (
            round(stored.expires_at - now) if stored.expires_at is not None else None
        )
        info["refreshable"] = stored.refresh_token is not None and not stored.refresh_error
        info["status"] = (
            f"refresh failed ({stored.refresh_error}): sign in again"
            if stored.refresh_error
            else expiry_note(stored, now)
        )
        if stored.extras:
            info["extras"] = dict(stored.extras)
    return info


def backend_info(storage: AuthStorage) -> dict[str, Any]:
    kind = storage.chosen()
    info: dict[str, Any] = {
        "kind": kind or "none",
        "location": storage.describe(),
        "file": str(storage.file.path),
        "encrypted_file": str(storage.encrypted.path),
        "problem": None,
    }
    if kind == "keychain":
        info["service"] = storage.keychain.service
        try:
            info["keyring_backend"] = storage.keychain.backend_name()
        except StoreError as exc:
            info["problem"] = exc.one_line()
    return info


def render_rows(report: StatusReport) -> tuple[list[str], list[list[str]]]:
    headers = ["PROVIDER", "STORED", "IN USE", "SOURCE", "NOTE"]
    rows = []
    for status in report.providers:
        stored = []
        for mode, info in sorted(status.stored.items()):
            stored.append(f"{mode} ({info['status']})" if mode == "sso" else mode)
        in_use = status.in_use or {}
        notes = []
        if status.problem:
            notes.append(status.problem)
        if in_use.get("note"):
            notes.append(in_use["note"])
        if status.shadowed:
            notes.append("shadows " + ", ".join(status.shadowed))
        rows.append(
            [
                status.provider,
                ", ".join(stored) or "-",
                in_use.get("mode", "-"),
                in_use.get("source", "none found"),
                "; ".join(notes),
            ]
        )
    return headers, rows
