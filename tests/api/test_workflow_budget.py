"""`run_workflow(max_usd=, max_tokens=, cache=)`: the Python API's budgets and step cache, on the
mock provider."""

from __future__ import annotations

import pytest

from rupu.api import Session, run_workflow
from rupu.errors import UsageError
from tests.conftest import Workspace

pytestmark = pytest.mark.anyio

ECHO = "---\nname: echo\nprovider: mock\ntools: []\n---\nYou echo.\n"
FLOW = """\
name: greet
steps:
  - id: hello
    agent: echo
    for_each: [ann, bob]
    prompt: "hello {{ item }}"
"""


@pytest.fixture
def session(workspace: Workspace) -> Session:
    workspace.write_agent("echo", ECHO)
    (workspace.home / "workflows").mkdir()
    (workspace.home / "workflows" / "greet.yaml").write_text(FLOW)
    return Session.from_environment(cwd=workspace.project)


async def test_a_token_limit_stops_the_run_as_an_outcome(session: Session) -> None:
    # Each call's worst case is its estimated input plus 8,192 output tokens (no maxTokens).
    outcome = await run_workflow("greet", max_tokens=100, session=session)
    assert outcome.status == "failed" and outcome.tokens == 0
    assert outcome.budget is not None
    assert (outcome.budget["limit"], outcome.budget["budget"]) == ("max_tokens", "the run's budget")
    assert outcome.budget["step"] == "hello"


async def test_cache_true_reuses_every_unit_of_an_earlier_run(session: Session) -> None:
    first = await run_workflow("greet", session=session)
    assert first.status == "succeeded" and first.tokens > 0
    again = await run_workflow("greet", cache=True, session=session)
    assert again.status == "succeeded"
    assert (again.tokens, again.cost_usd, again.outputs) == (0, 0.0, first.outputs)
    fresh = await run_workflow("greet", cache=False, session=session)
    assert fresh.tokens == first.tokens


async def test_a_limit_that_is_not_positive_is_refused(session: Session) -> None:
    with pytest.raises(UsageError, match="max_usd must be more than 0"):
        await run_workflow("greet", max_usd=-1, session=session)
