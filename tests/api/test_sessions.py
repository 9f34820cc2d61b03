"""Sessions from Python: every `run_agent` is a session; `continue_session=True` (the latest in the
session's directory) or an id replays the conversation before the prompt, and `rupu run --continue`
goes on with a session the API started."""

from __future__ import annotations

from pathlib import Path

import pytest

from rupu.api import Session, run_agent
from rupu.api.sessions import find_session, session_history
from rupu.errors import UsageError
from rupu.sessions.store import SessionStore
from tests.conftest import Workspace, run_rupu

pytestmark = pytest.mark.anyio

SCRIPT = """\
- tool_calls: [{name: read_file, arguments: {path: notes.txt}}]
- text: it says ship
- text: friday
- text: from the cli
"""


def setup(workspace: Workspace) -> None:
    script = workspace.project / "script.yaml"
    script.write_text(SCRIPT)
    workspace.write_config(f'[providers.mock]\nscript = "{script}"\n')
    workspace.write_agent(
        "reader", "---\nname: reader\nprovider: mock\ntools: [read_file]\n---\nx\n"
    )
    (workspace.project / "notes.txt").write_text("ship\n")


async def test_continue_session_replays_the_conversation(workspace: Workspace) -> None:
    setup(workspace)
    first = await run_agent("reader", "what do the notes say?")
    assert first.text == "it says ship" and first.session_id is not None
    # The mock plays entry N for a conversation holding N answers: "friday" proves the history.
    second = await run_agent("reader", "when?", continue_session=True)
    assert second.text == "friday" and second.session_id == first.session_id
    other = await run_agent("reader", "what do the notes say?", continue_session=False)
    assert other.session_id != first.session_id
    again = await run_agent("reader", "x", continue_session=first.session_id or "")
    assert again.text == "from the cli"

    session = Session.from_environment()
    record = find_session(session, ref=first.session_id)
    assert [r.run_id for r in record.runs] == [first.run_id, second.run_id, again.run_id]
    history = session_history(session, record)
    texts = [m.text() for m in history.messages if m.text()]
    assert texts == [
        "what do the notes say?",
        "it says ship",
        "when?",
        "friday",
        "x",
        "from the cli",
    ]
    assert SessionStore(workspace.home).latest_in(Path.cwd().resolve()).id == first.session_id


async def test_the_cli_continues_a_session_the_api_started(workspace: Workspace) -> None:
    setup(workspace)
    await run_agent("reader", "what do the notes say?")
    await run_agent("reader", "when?", continue_session=True)
    result = run_rupu("run", "--continue", "and?")
    assert result.code == 0, result.stderr
    assert result.stdout == "from the cli\n"


async def test_nothing_to_continue_is_a_usage_error(workspace: Workspace) -> None:
    setup(workspace)
    with pytest.raises(UsageError, match="no session to continue in"):
        await run_agent("reader", "hi", continue_session=True)
