"""`rupu auth login|status|logout|backend`."""

# lazy imports: a command loads what it needs when it runs, so `rupu --help` stays fast
from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

import click

from rupu.cli import complete

if TYPE_CHECKING:
    from rupu.auth.store import AuthStorage
    from rupu.auth.stored import StoredCredential
    from rupu.cli.context import AppContext


def _say(message: str) -> None:
    click.echo(message, err=True)


def _notice(message: str) -> None:
    click.echo(f"rupu: {message}", err=True)


def _storage(app: AppContext) -> AuthStorage:
    from rupu.auth.store import AuthStorage

    return AuthStorage(app.paths.home, env=app.env, notice=_notice)


def _declared(app: AppContext) -> list[str]:
    return sorted(app.config.config.providers)


def _check_provider(app: AppContext, provider: str) -> str:
    from rupu.auth.aws import uses_aws_chain
    from rupu.auth.resolver import SSO_PROVIDERS
    from rupu.auth.stored import check_provider_name
    from rupu.config.presets import preset_names
    from rupu.errors import UsageError, did_you_mean

    check_provider_name(provider)
    known = sorted({*SSO_PROVIDERS, *_declared(app), *preset_names()})
    if provider in {"mock", "claude-code"} or app.config.provider(provider).keyless:
        raise UsageError(f"the {provider} provider needs no credentials")
    if uses_aws_chain(provider, app.config):
        raise UsageError(
            f"{provider} takes its credentials from the AWS chain; rupu stores none",
            hint="sign in with the AWS CLI (`aws sso login`, `aws configure`) or set AWS_* "
            "variables; `rupu auth status` shows the link in use",
        )
    if provider not in known:
        raise UsageError(
            f"unknown provider '{provider}'{did_you_mean(provider, known)}",
            hint=f"known providers: {', '.join(known)}; declare others under [providers.{provider}] "
            "in config.toml",
        )
    return provider


@click.group()
def auth() -> None:
    """Sign in to providers and manage stored credentials."""


@auth.command()
@click.option(
    "--provider",
    "-p",
    required=True,
    help="Provider name (built-in or from config).",
    shell_complete=complete.provider_names,
)
@click.option(
    "--mode",
    type=click.Choice(["api-key", "sso"]),
    default="api-key",
    show_default=True,
    help="api-key stores a key; sso signs in through the browser (copilot: a device code).",
)
@click.option("--key", help="The API key (visible to other processes: prefer stdin).")
@click.option("--no-browser", is_flag=True, help="Print the sign-in URL instead of opening it.")
@click.option(
    "--host",
    metavar="DOMAIN",
    help="copilot: sign in on this GitHub Enterprise Server domain instead of github.com.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=300,
    show_default=True,
    help="Seconds to wait for the browser.",
)
@click.pass_obj
def login(
    app: AppContext,
    provider: str,
    mode: str,
    key: str | None,
    no_browser: bool,
    host: str | None,
    timeout: float,
) -> None:
    """Store an API key, or sign in (SSO).

    The key comes from --key, from standard input when it is piped, or from a hidden prompt. It may
    also be written as `!command` (its output is the key) or as an environment variable's name.
    """
    _check_provider(app, provider)
    if host is not None and (provider != "copilot" or mode != "sso"):
        from rupu.errors import UsageError

        raise UsageError(
            "--host only goes with --provider copilot --mode sso (a GitHub Enterprise sign-in)"
        )
    storage = _storage(app)
    if mode == "api-key":
        _store_key(app, storage, provider, key)
    else:
        if key is not None:
            from rupu.errors import UsageError

            raise UsageError("--key only goes with --mode api-key")
        _sign_in(app, storage, provider, no_browser=no_browser, wait=timeout, host=host)


def _store_key(app: AppContext, storage: AuthStorage, provider: str, key: str | None) -> None:
    from pydantic import SecretStr

    from rupu.auth.keyref import parse_key_ref
    from rupu.auth.resolver import SIGN_IN_ONLY, key_vars
    from rupu.auth.stored import StoredCredential
    from rupu.errors import UsageError

    if provider in SIGN_IN_ONLY:
        raise UsageError(
            f"{provider} takes only a sign-in (SSO), not an API key",
            hint=f"rupu auth login --provider {provider} --mode sso",
        )
    value = _read_key(provider, key)
    stored = StoredCredential(
        provider=provider, mode="api-key", secret=SecretStr(value), updated_at=time.time()
    )
    storage.put(stored)
    ref = parse_key_ref(value)
    what = "API key" if ref.form == "literal" else f"API key reference ({ref.describe()})"
    _say(f"Saved the {provider} {what} in {storage.describe()}.")
    shadowed = [var for var in key_vars(provider) if app.env.get(var)]
    if shadowed:
        _say(f"It takes precedence over {', '.join(shadowed)} from now on.")
    if storage.get(provider, "sso") is not None:
        _say(
            f"A {provider} sign-in (SSO) is also stored and is used first; run "
            f"`rupu auth logout --provider {provider} --mode sso` to use the key instead."
        )


def _read_key(provider: str, key: str | None) -> str:
    from rupu.auth.keyref import parse_key_ref
    from rupu.errors import UsageError

    if key is not None:
        if parse_key_ref(key).form == "literal":
            _say(
                "warning: --key puts the key in this command's arguments, which other processes on "
                f"this machine can read; next time pipe it: ... | rupu auth login --provider {provider}"
            )
        value = key
    elif not sys.stdin.isatty():
        value = sys.stdin.read()
    else:
        value = click.prompt(f"API key for {provider}", hide_input=True, err=True)
    value = value.strip()
    if not value:
        raise UsageError(
            "no API key given", hint="pass it on standard input, with --key, or at the prompt"
        )
    if any(ch.isspace() for ch in value) and parse_key_ref(value).form == "literal":
        raise UsageError(
            "the API key contains spaces or line breaks", hint="pass exactly one key, on one line"
        )
    return value


def _sign_in(
    app: AppContext,
    storage: AuthStorage,
    provider: str,
    *,
    no_browser: bool,
    wait: float,
    host: str | None = None,
) -> None:
    import anyio

    from rupu.auth.credentials import sign_in_identity
    from rupu.auth.files import StoreError, file_lock
    from rupu.auth.oauth.endpoints import oauth_profile
    from rupu.errors import CredentialError

    app.require_trust()
    settings = app.config.provider(provider)
    profile = oauth_profile(provider, settings.oauth)
    enterprise = None
    if host is not None:
        from rupu.auth.oauth.copilot_host import (
            enterprise_profile,
            enterprise_site,
            is_enterprise,
            normalise_host,
        )

        enterprise = normalise_host(host)
        if is_enterprise(enterprise):
            site = enterprise_site(enterprise, settings.enterprise_url)
            profile = enterprise_profile(profile, site)
            _say(f"Signing in to GitHub Copilot on {enterprise}.")
    stored = anyio.run(_run_sign_in, profile, no_browser, wait)
    if enterprise is not None:  # the domain the token belongs to: its exchange is on that host
        stored = stored.model_copy(update={"extras": {**stored.extras, "host": enterprise}})
    if settings.project:  # the Google Cloud project a Gemini or Antigravity sign-in bills to
        stored = stored.model_copy(
            update={"extras": {**stored.extras, "project": settings.project}}
        )
    if provider == "antigravity":
        stored = anyio.run(_antigravity_project, stored, settings.base_url)
    try:
        with file_lock(storage.lock_dir / f"{provider}.sso.lock"):
            storage.put(stored)
    except StoreError as exc:
        raise CredentialError(
            provider,
            f"signed in, but the credentials could not be saved ({exc.one_line()})",
            hint=f"fix the store, then run `rupu auth login --provider {provider} --mode sso` again",
        ) from None
    named = sign_in_identity(provider) or provider
    _say(f"Signed in to {named} ({_sign_in_summary(stored)}); saved in {storage.describe()}.")


async def _antigravity_project(stored: StoredCredential, base_url: str | None) -> StoredCredential:
    from rupu.auth.oauth.antigravity import DISCOVERY_ENDPOINTS, complete_sign_in

    endpoints = (base_url,) if base_url else DISCOVERY_ENDPOINTS
    return await complete_sign_in(stored, endpoints=endpoints, say=_say)


async def _run_sign_in(profile: object, no_browser: bool, wait: float) -> StoredCredential:
    from rupu.auth.oauth.endpoints import OAuthProfile
    from rupu.auth.oauth.login import sign_in

    assert isinstance(profile, OAuthProfile)
    return await sign_in(profile, say=_say, no_browser=no_browser, wait=wait)


def _sign_in_summary(stored: StoredCredential) -> str:
    from rupu.auth.resolver import expiry_note

    parts = [expiry_note(stored, time.time())]
    if stored.refresh_token is not None:
        parts.append("refreshes automatically")
    account = stored.extras.get("chatgpt_account_id") or stored.extras.get("account_id")
    if account:
        parts.append(f"account {account}")
    if stored.extras.get("host"):
        parts.append(f"on {stored.extras['host']}")
    if stored.provider == "antigravity" and stored.extras.get("project"):
        parts.append(f"project {stored.extras['project']}")
    return ", ".join(parts)


@auth.command()
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@click.pass_obj
def status(app: AppContext, output_format: str) -> None:
    """Show stored credentials, which one a run would use, and the storage backend."""
    import orjson

    from rupu.auth.resolver import CredentialResolver
    from rupu.auth.status import collect_status, render_rows
    from rupu.cli.tables import print_table

    storage = _storage(app)
    resolver = CredentialResolver(
        app.env, store=storage, config=app.config, lock_dir=storage.lock_dir
    )
    report = collect_status(resolver, storage, _declared(app))
    if output_format == "json":
        click.echo(orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2).decode())
        return
    headers, rows = render_rows(report)
    print_table(headers, rows)
    backend = report.backend
    line = f"backend: {backend['location']}"
    if backend.get("keyring_backend"):
        line += f" via {backend['keyring_backend']}"
    click.echo(line)
    if backend.get("problem"):
        click.echo(f"problem: {backend['problem']}")


@auth.command()
@click.option(
    "--provider", "-p", help="Provider to sign out of.", shell_complete=complete.provider_names
)
@click.option(
    "--mode", type=click.Choice(["api-key", "sso"]), help="Only this mode (default both)."
)
@click.option("--all", "everything", is_flag=True, help="Remove every stored credential.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (with --all).")
@click.pass_obj
def logout(
    app: AppContext, provider: str | None, mode: str | None, everything: bool, yes: bool
) -> None:
    """Remove stored credentials."""
    from rupu.auth.files import StoreError
    from rupu.auth.resolver import SSO_PROVIDERS
    from rupu.auth.stored import check_provider_name
    from rupu.errors import UsageError

    storage = _storage(app)
    if everything == (provider is not None):
        raise UsageError("give either --provider NAME or --all", hint="rupu auth logout --help")
    if everything:
        if not yes:
            if not sys.stdin.isatty():
                raise UsageError("--all removes every stored credential", hint="add --yes")
            click.confirm("Remove every stored credential?", abort=True, err=True)
        names = tuple(sorted({*SSO_PROVIDERS, *_declared(app)}))
        removed: list[str] = []
        problems: list[str] = []
        try:
            stored = storage.list(probe=names)
        except StoreError as exc:  # remove what can be removed anyway
            problems.append(exc.one_line())
            stored = []
        for credential in stored:
            try:
                if storage.delete(credential.provider, credential.mode):
                    removed.append(credential.key)
            except StoreError as exc:
                problems.append(exc.one_line())
        for kept in (storage.file, storage.encrypted):
            if kept.exists():
                try:
                    kept.clear()
                except StoreError as exc:
                    problems.append(exc.one_line())
        _say(f"Removed {len(removed)} stored credential{'s' if len(removed) != 1 else ''}.")
        if problems:
            raise problems_error(problems)
        return
    assert provider is not None
    check_provider_name(provider)
    modes = (mode,) if mode else ("sso", "api-key")
    removed, problems = [], []
    for each in modes:
        try:
            if storage.delete(provider, each):  # type: ignore[arg-type]
                removed.append(each)
        except StoreError as exc:
            problems.append(exc.one_line())
    if removed:
        _say(
            f"Removed the {provider} {' and '.join(removed)} credential{'s' if len(removed) > 1 else ''}."
        )
    elif not problems:
        _say(f"Nothing stored for {provider}{f' ({mode})' if mode else ''}.")
    if problems:
        raise problems_error(problems)


def problems_error(problems: list[str]) -> Exception:
    from rupu.auth.files import StoreError

    return StoreError(
        "logout",
        "some credentials could not be removed: " + "; ".join(problems),
        hint="fix the problem above and run the command again",
    )


@auth.command()
@click.option(
    "--use",
    "target",
    type=click.Choice(["keychain", "file", "encrypted-file"]),
    help="Switch to this backend, moving every stored credential (encrypted-file: auth.enc, "
    "unlocked by RUPU_AUTH_PASSPHRASE or a prompt).",
)
@click.pass_obj
def backend(app: AppContext, target: str | None) -> None:
    """Show where credentials are stored, or switch the storage backend."""
    from rupu.auth.resolver import SSO_PROVIDERS

    storage = _storage(app)
    if target is None:
        click.echo(f"backend: {storage.describe()}")
        problem = storage.keychain_problem()
        keychain = "usable" if problem is None else problem.reason
        click.echo(f"keychain: {keychain} (service {storage.keychain.service})")
        click.echo(f"file: {storage.file.path}{'' if storage.file.exists() else ' (absent)'}")
        encrypted = storage.encrypted
        click.echo(f"encrypted file: {encrypted.path}{'' if encrypted.exists() else ' (absent)'}")
        return
    names = tuple(sorted({*SSO_PROVIDERS, *_declared(app)}))
    migration = storage.switch(target, probe=names)  # type: ignore[arg-type]
    if migration.source == migration.target:
        click.echo(f"Credentials are stored in {storage.describe()}.")
        return
    count = len(migration.moved)
    click.echo(
        f"Moved {count} credential{'s' if count != 1 else ''} from the {migration.source} to the "
        f"{migration.target}; now using {storage.describe()}."
    )
    if migration.source == "file":
        click.echo(f"{storage.file.path} was removed.")
    elif migration.source == "encrypted-file":
        click.echo(f"{storage.encrypted.path} was removed.")
