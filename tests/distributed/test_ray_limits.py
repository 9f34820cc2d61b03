"""On a real two-node Ray cluster: a provider's concurrency limit holds for the whole cluster (the
loopback server's high-water mark), and the API key the workers use never shows in Ray's logs, in
the run's records or in anything the driver sent as a task argument."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from rupu.api import run_workflow
from tests.conftest import Workspace
from tests.distributed.cluster import RayCluster
from tests.servers.base import RecordedRequest, Reply
from tests.servers.openai_chat import ChatCompletionsServer, stream_reply, text_stream, usage

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.timeout(240)]

KEY = "sk-alpha-canary-7f3e"
LATENCY = 0.3
LIMIT = 2
ITEMS = 8

WORKFLOW = """\
name: limited
steps:
  - id: many
    agent: worker
    for_each: [1, 2, 3, 4, 5, 6, 7, 8]
    prompt: "item {{ item }}"
"""


class HighWater:
    """How many requests the server was answering at once, at most."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0

    def reply(self, request: RecordedRequest) -> Reply:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        threading.Timer(LATENCY, self._done).start()
        prompt = request.body["messages"][-1]["content"]
        return stream_reply(text_stream([f"done {prompt}"], with_usage=usage(7, 2)), delay=LATENCY)

    def _done(self) -> None:
        with self.lock:
            self.now -= 1


def write_project(workspace: Workspace, server: ChatCompletionsServer) -> None:
    workspace.write_config(
        f'[providers.alpha]\nbase_url = "{server.base_url}/v1"\ndefault_model = "alpha-1"\n'
        f"max_concurrency = {LIMIT}\n"
    )
    workspace.write_agent("worker", "---\nname: worker\nprovider: alpha\n---\nWork.\n")
    (workspace.home / "workflows").mkdir(exist_ok=True)
    (workspace.home / "workflows" / "limited.yaml").write_text(WORKFLOW)


def files_holding(root: Path, secret: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret in p.read_bytes()]


async def test_a_provider_limit_holds_across_the_cluster_and_the_key_stays_unlogged(
    cluster: RayCluster, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUPU_ALPHA_API_KEY", KEY)
    water = HighWater()
    with ChatCompletionsServer(api_key=KEY) as server:
        server.default_reply = water.reply
        write_project(workspace, server)
        started = time.monotonic()
        outcome = await run_workflow("limited", executor="ray")
        took = time.monotonic() - started
    assert outcome.status == "succeeded", outcome.error
    assert len(server.requests) == ITEMS
    assert water.most == LIMIT  # two workers, one limit: never more than two at once
    assert took >= ITEMS / LIMIT * LATENCY
    assert {r.headers["authorization"] for r in server.requests} == {f"Bearer {KEY}"}
    assert files_holding(workspace.home / "runs", KEY.encode()) == []
    assert files_holding(Path(cluster.session_dir), KEY.encode()) == []


BUDGETED = """\
name: budgeted
budget: {max_tokens: 30000}
steps:
  - id: many
    agent: worker
    for_each: [1, 2, 3, 4, 5, 6, 7, 8]
    prompt: "item {{ item }}"
"""


async def test_a_budget_is_one_ledger_for_the_whole_cluster(
    cluster: RayCluster, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every call's worst case is held against the driver's ledger before it is sent: on Ray as
    many calls go out as locally (one ledger per worker would let each worker spend the budget)."""
    monkeypatch.setenv("RUPU_ALPHA_API_KEY", KEY)
    sent: dict[str, int] = {}
    with ChatCompletionsServer(api_key=KEY) as server:
        server.default_reply = HighWater().reply
        workspace.write_config(
            f'[providers.alpha]\nbase_url = "{server.base_url}/v1"\ndefault_model = "alpha-1"\n'
        )
        workspace.write_agent("worker", "---\nname: worker\nprovider: alpha\n---\nWork.\n")
        (workspace.home / "workflows").mkdir(exist_ok=True)
        (workspace.home / "workflows" / "budgeted.yaml").write_text(BUDGETED)
        for executor in ("local", "ray"):
            before = len(server.requests)
            outcome = await run_workflow("budgeted", executor=executor)
            sent[executor] = len(server.requests) - before
            assert outcome.status == "failed", outcome.error
            assert outcome.error is not None and "budget" in outcome.error
    assert 0 < sent["ray"] == sent["local"] < ITEMS
