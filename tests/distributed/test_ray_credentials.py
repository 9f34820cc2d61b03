"""On a real two-node Ray cluster, a mixed-provider workflow whose sign-in expires mid-run: the
driver refreshes it exactly once for the whole cluster, every later unit on every worker uses the
new token, and neither the refresh token nor the keys show in Ray's logs or the run's records."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.cli.test_antigravity import agent, config, oauth_server, sign_in
from tests.cli.test_auth_sso import NO_KEYCHAIN
from tests.conftest import Workspace, run_rupu
from tests.distributed.cluster import RayCluster
from tests.distributed.test_ray_limits import KEY, files_holding
from tests.servers.antigravity import AntigravityServer
from tests.servers.base import RecordedRequest, Reply
from tests.servers.gemini_streams import stream as gemini_stream
from tests.servers.gemini_streams import text_chunks
from tests.servers.openai_chat import ChatCompletionsServer, stream_reply, text_stream, usage

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

LIFETIME = 72  # the sign-in's access token: due for refresh (under 60 s left) 12 s after sign-in
WORKFLOW = """\
name: mixed
steps:
  - id: first
    agent: signed
    prompt: one
  - id: pause
    agent: worker
    depends_on: [first]
    prompt: pause
  - id: fan
    agent: signed
    depends_on: [pause]
    for_each: [1, 2, 3, 4, 5, 6]
    prompt: "item {{ item }}"
"""


def test_a_sign_in_expiring_mid_run_is_refreshed_once_on_the_driver(
    cluster: RayCluster, workspace: Workspace, tmp_path: Path
) -> None:
    with (
        oauth_server(expires_in=LIFETIME) as oauth,
        AntigravityServer(issuer=oauth) as ag,
        ChatCompletionsServer(api_key=KEY) as chat,
    ):
        workspace.write_config(
            config(oauth, ag)
            + f'[providers.alpha]\nbase_url = "{chat.base_url}/v1"\ndefault_model = "alpha-1"\n'
        )
        sign_in(workspace, tmp_path)
        signed_at = time.monotonic()
        first = next(iter(oauth.live_access_tokens()))
        entry = json.loads((workspace.home / "auth.json").read_text())["credentials"]
        refresh_token = str(entry["antigravity/sso"]["refresh_token"])

        def pause(request: RecordedRequest) -> Reply:
            # Answers once the sign-in is due, so the fan-out after it meets an expiring token.
            wait = max(0.0, signed_at + (LIFETIME - 60) + 1 - time.monotonic())
            chunks = text_stream(["paused"], with_usage=usage(3, 1))
            return stream_reply(chunks, delay=wait)

        chat.default_reply = pause
        ag.default_reply = gemini_stream(text_chunks(["ok"]))
        agent(workspace, "gemini-3.1-pro-high")
        workspace.write_agent("worker", "---\nname: worker\nprovider: alpha\n---\nWait.\n")
        (workspace.home / "workflows").mkdir(exist_ok=True)
        (workspace.home / "workflows" / "mixed.yaml").write_text(WORKFLOW)
        env = {**NO_KEYCHAIN, "RUPU_ALPHA_API_KEY": KEY}
        result = run_rupu("workflow", "run", "mixed", "--executor", "ray", env=env, timeout=120)
    assert result.code == 0, result.stderr
    assert oauth.counts["refresh"] == 1
    streams = [r for r in ag.requests if r.path.endswith("streamGenerateContent")]
    tokens = [r.headers["authorization"].removeprefix("Bearer ") for r in streams]
    assert len(tokens) == 7 and tokens[0] == first
    assert len(set(tokens[1:])) == 1 and first not in tokens[1:]
    for secret in (refresh_token, KEY):
        assert files_holding(workspace.home / "runs", secret.encode()) == []
        assert files_holding(Path(cluster.session_dir), secret.encode()) == []
