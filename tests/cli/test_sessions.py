"""Sessions through the CLI: every run is a session; `rupu run --continue` replays the conversation to
another provider (thinking it cannot take is left out, and said so) and back again (its own signed
thinking returned unchanged, tool calls and results in place), each request checked by the loopback
servers; `rupu session list|show|rm`."""

from __future__ import annotations

from typing import Any

import orjson

from tests.conftest import Workspace, run_rupu
from tests.servers.anthropic import (
    AnthropicServer,
    Text,
    Thinking,
    ToolUse,
    response_stream,
)
from tests.servers.anthropic import (
    stream_reply as anthropic_reply,
)
from tests.servers.gemini import GeminiServer
from tests.servers.gemini_streams import call_chunks, signature, stream, text_chunks
from tests.servers.openai_chat import ChatCompletionsServer, text_stream
from tests.servers.openai_chat import stream_reply as chat_reply
from tests.servers.openai_responses import ResponsesServer, ResponseStream
from tests.servers.openai_responses import stream_reply as responses_reply

KEYS = {"ANTHROPIC_API_KEY": "sk-ant-test", "RUPU_ORACLE_API_KEY": "oracle-key"}
SIGNATURE = "sig-session-" + "Q" * 40
AGENT = """---
name: reviewer
provider: anthropic
model: claude-test-1
effort: low
tools: [read_file]
---
You review notes.
"""


def configure(
    workspace: Workspace, anthropic: AnthropicServer, oracle: ChatCompletionsServer
) -> None:
    workspace.write_config(
        f'[providers.anthropic]\nbase_url = "{anthropic.base_url}"\nallow_unknown_model = true\n'
        f'[providers.oracle]\nkind = "openai-compatible"\nbase_url = "{oracle.base_url}/v1"\n'
        'default_model = "test-model"\nallow_unknown_model = true\n'
    )
    workspace.write_agent("reviewer", AGENT)
    (workspace.project / "notes.txt").write_text("ship on friday\n")


def sessions_json() -> list[dict[str, Any]]:
    result = run_rupu("session", "list", "--format", "json")
    assert result.code == 0, result.stderr
    items: list[dict[str, Any]] = orjson.loads(result.stdout)["sessions"]
    return items


def test_continue_across_two_providers_replays_tools_and_thinking(workspace: Workspace) -> None:
    with (
        AnthropicServer(api_key=KEYS["ANTHROPIC_API_KEY"]) as anthropic,
        ChatCompletionsServer(api_key=KEYS["RUPU_ORACLE_API_KEY"]) as oracle,
    ):
        configure(workspace, anthropic, oracle)
        anthropic.script.append(
            anthropic_reply(
                response_stream(
                    [
                        Thinking(["I should ", "read it."], signature=SIGNATURE),
                        ToolUse("toolu_01", "read_file", {"path": "notes.txt"}),
                    ],
                    stop_reason="tool_use",
                )
            )
        )
        anthropic.script.append(anthropic_reply(response_stream([Text(["Ships friday."])])))
        first = run_rupu("run", "--agent", "reviewer", "when do we ship?", env=KEYS)
        assert first.code == 0, first.stderr
        assert first.stdout == "Ships friday.\n"
        (session,) = sessions_json()
        assert f" · session {session['session_id']}\n" in first.stderr  # in the footer

        # The second run goes to another provider: the history is converted for it.
        oracle.script.append(chat_reply(text_stream(["Friday, ", "yes."])))
        second = run_rupu(
            "run", "--continue", "--provider", "oracle", "--format", "json", "sure?", env=KEYS
        )
        assert second.code == 0, second.stderr
        summary = orjson.loads(second.stdout)
        assert summary["session_id"] == session["session_id"] and summary["text"] == "Friday, yes."
        assert "1 thinking block (1 from anthropic) left out of the history" in second.stderr
        sent = oracle.requests[0].body["messages"]
        assert [m["role"] for m in sent] == [
            "system",
            "user",
            "assistant",
            "tool",
            "assistant",
            "user",
        ]
        assert sent[1]["content"] == "when do we ship?"
        (call,) = sent[2]["tool_calls"]
        assert call["id"] == "toolu_01" and call["function"]["name"] == "read_file"
        assert orjson.loads(call["function"]["arguments"]) == {"path": "notes.txt"}
        assert sent[3]["tool_call_id"] == "toolu_01" and "ship on friday" in sent[3]["content"]
        assert sent[4]["content"] == "Ships friday." and sent[5]["content"] == "sure?"
        assert "read it" not in orjson.dumps(sent).decode()  # no thinking crossed over

        # Back on anthropic (by id prefix): its own thinking goes back signed and unchanged.
        anthropic.script.append(anthropic_reply(response_stream([Text(["Done."])])))
        prefix = session["session_id"][:12]
        third = run_rupu("run", "--session", prefix, "thanks", env=KEYS)
        assert third.code == 0, third.stderr
        assert "left out of the history" not in third.stderr
    messages = anthropic.requests[2].body["messages"]
    assert [m["role"] for m in messages] == [
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    thinking, tool_use = messages[1]["content"]
    assert thinking == {"type": "thinking", "thinking": "I should read it.", "signature": SIGNATURE}
    assert tool_use["type"] == "tool_use" and tool_use["id"] == "toolu_01"
    (result,) = messages[2]["content"]
    assert result["type"] == "tool_result" and result["tool_use_id"] == "toolu_01"
    assert messages[5]["content"] == [{"type": "text", "text": "Friday, yes."}]
    assert messages[6]["content"] == "thanks"  # the new prompt, as rupu sends a plain prompt

    (session,) = sessions_json()
    assert [(r["provider"], r["model"]) for r in session["runs"]] == [
        ("anthropic", "claude-test-1"),
        ("oracle", "test-model"),
        ("anthropic", "claude-test-1"),
    ]
    shown = run_rupu("session", "show")
    assert shown.code == 0, shown.stderr
    assert "[thinking · anthropic] I should read it." in shown.stdout
    assert '[tool call] read_file {"path":"notes.txt"}' in shown.stdout
    assert "[assistant] Friday, yes." in shown.stdout and "[user] thanks" in shown.stdout
    hidden = run_rupu("session", "show", session["session_id"], "--hide-thinking")
    assert "I should read it" not in hidden.stdout and "[assistant] Done." in hidden.stdout
    data = orjson.loads(run_rupu("session", "show", "--format", "json").stdout)
    assert len(data["messages"]) == 8 and data["missing_runs"] == []
    assert data["messages"][1]["parts"][0] == {
        "kind": "thinking",
        "text": "I should read it.",
        "signature": SIGNATURE,
        "provider": "anthropic",
    }


def test_every_run_is_a_new_session_until_continued(workspace: Workspace) -> None:
    workspace.write_agent("echo", "---\nname: echo\nprovider: mock\n---\nx\n")
    for prompt in ("one", "two"):
        assert run_rupu("run", "--agent", "echo", prompt).code == 0
    both = sessions_json()
    assert [s["title"] for s in both] == ["two", "one"]  # most recently used first
    again = run_rupu("run", "--continue", "three")
    assert again.code == 0, again.stderr
    assert again.stdout == "three\n"
    latest = sessions_json()[0]
    assert latest["session_id"] == both[0]["session_id"] and len(latest["runs"]) == 2
    # The echo model answers the last user message; the history is in the transcript.
    transcript = workspace.home / "transcripts" / f"{latest['runs'][1]['run_id']}.jsonl"
    records = [orjson.loads(line) for line in transcript.read_bytes().splitlines()]
    (history,) = [r["data"] for r in records if r["type"] == "history"]
    assert history == {"messages": 2}
    start = next(r["data"] for r in records if r["type"] == "run_start")
    assert start["session_id"] == latest["session_id"]


def test_session_rm_removes_the_record_and_its_transcripts(workspace: Workspace) -> None:
    workspace.write_agent("echo", "---\nname: echo\nprovider: mock\n---\nx\n")
    assert run_rupu("run", "--agent", "echo", "keep me").code == 0
    assert run_rupu("run", "--agent", "echo", "drop me").code == 0
    keep, drop = sorted(sessions_json(), key=lambda s: s["title"])
    removed = run_rupu("session", "rm", drop["session_id"])
    assert removed.code == 0, removed.stderr
    assert f"removed session {drop['session_id']} and 1 transcript(s)" in removed.stderr
    assert [s["session_id"] for s in sessions_json()] == [keep["session_id"]]
    remaining = list((workspace.home / "transcripts").glob("*.jsonl"))
    assert [p.stem for p in remaining] == [keep["runs"][0]["run_id"]]
    missing = run_rupu("session", "rm", drop["session_id"])
    assert missing.code == 2 and f"no session '{drop['session_id']}'" in missing.stderr
    damaged = workspace.home / "sessions" / f"{keep['session_id']}.json"
    damaged.write_text("{torn")
    shown = run_rupu("session", "show", keep["session_id"])
    assert shown.code == 2 and "is not a session record" in shown.stderr
    assert sessions_json() == []  # left out of the list
    fixed = run_rupu("session", "rm", keep["session_id"][:10])
    assert fixed.code == 0 and "removed the damaged session record" in fixed.stderr
    assert not damaged.exists()


def test_continue_with_no_session_here_is_a_usage_error(workspace: Workspace) -> None:
    workspace.write_agent("echo", "---\nname: echo\nprovider: mock\n---\nx\n")
    result = run_rupu("run", "--continue", "hello")
    assert result.code == 2
    assert "no session to continue in" in result.stderr and "Traceback" not in result.stderr
    both = run_rupu("run", "--continue", "--session", "x", "hello")
    assert both.code == 2 and "--continue and --session" in both.stderr
    neither = run_rupu("run", "hello")
    assert neither.code == 2 and "no agent given" in neither.stderr
    elsewhere = workspace.project / "elsewhere"
    elsewhere.mkdir()
    assert run_rupu("run", "--agent", "echo", "there", cwd=elsewhere).code == 0
    assert sessions_json() == []  # sessions of other directories are not listed here
    everywhere = run_rupu("session", "list", "--all", "--format", "json")
    (other,) = orjson.loads(everywhere.stdout)["sessions"]
    assert other["directory"] == str(elsewhere.resolve())


GEMINI_KEY = "AIzaSy-session-test-0042"
GEMINI_AGENT = """---
name: scout
provider: gemini
model: gemini-2.5-flash
effort: low
tools: [read_file]
---
You answer briefly.
"""


def test_continue_on_gemini_returns_its_thought_signatures(workspace: Workspace) -> None:
    with GeminiServer(api_key=GEMINI_KEY) as server:
        workspace.write_config(f'[providers.gemini]\nbase_url = "{server.base_url}"\n')
        workspace.write_agent("scout", GEMINI_AGENT)
        (workspace.project / "notes.txt").write_text("ship on friday\n")
        server.script.append(
            stream(call_chunks([("read_file", {"path": "notes.txt"})], sig=signature("call")))
        )
        server.script.append(
            stream(
                text_chunks(
                    ["Friday."], thoughts=["The notes say friday."], thought_sig=signature("t")
                )
            )
        )
        server.script.append(stream(text_chunks(["Yes."])))
        env = {"GEMINI_API_KEY": GEMINI_KEY}
        first = run_rupu("run", "--agent", "scout", "when do we ship?", env=env)
        assert first.code == 0, first.stderr
        second = run_rupu("run", "--continue", "sure?", env=env)
        assert second.code == 0, second.stderr
        assert "left out" not in second.stderr
    contents = server.requests[2].body["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user", "model", "user"]
    (call,) = contents[1]["parts"]
    assert call["functionCall"]["name"] == "read_file" and call["thoughtSignature"] == signature(
        "call"
    )
    (response,) = contents[2]["parts"]
    assert "ship on friday" in orjson.dumps(response["functionResponse"]).decode()
    thought, answer = contents[3]["parts"]
    assert thought == {
        "text": "The notes say friday.",
        "thought": True,
        "thoughtSignature": signature("t"),
    }
    assert answer == {"text": "Friday."}
    assert contents[4]["parts"] == [{"text": "sure?"}]


OPENAI_KEY = "sk-proj-session-test"
OPENAI_AGENT = """---
name: planner
provider: openai
model: gpt-test
effort: high
tools: [read_file]
---
You plan.
"""


def test_continue_on_openai_responses_returns_its_encrypted_reasoning(
    workspace: Workspace,
) -> None:
    with ResponsesServer(api_key=OPENAI_KEY) as server:
        workspace.write_config(
            f'[providers.openai]\nbase_url = "{server.base_url}/v1"\nallow_unknown_model = true\n'
        )
        workspace.write_agent("planner", OPENAI_AGENT)
        (workspace.project / "notes.txt").write_text("ship on friday\n")
        first_turn = (
            ResponseStream()
            .reasoning([["Look at the notes"]], encrypted="enc_blob_1", item_id="rs_1")
            .function_call("call_1", "read_file", {"path": "notes.txt"})
            .completed()
        )
        server.script.append(responses_reply(first_turn))
        server.script.append(responses_reply(ResponseStream().text(["Friday."]).completed()))
        server.script.append(responses_reply(ResponseStream().text(["Yes."]).completed()))
        env = {"OPENAI_API_KEY": OPENAI_KEY}
        first = run_rupu("run", "--agent", "planner", "when do we ship?", env=env)
        assert first.code == 0, first.stderr
        second = run_rupu("run", "--continue", "sure?", env=env)
        assert second.code == 0, second.stderr
    items = server.requests[2].body["input"]
    kinds = [i.get("type", i.get("role")) for i in items]
    assert kinds == [
        "user",
        "reasoning",
        "function_call",
        "function_call_output",
        "assistant",
        "user",
    ]
    reasoning = items[1]
    assert (reasoning["id"], reasoning["encrypted_content"]) == ("rs_1", "enc_blob_1")
    assert items[2]["call_id"] == "call_1" and items[3]["call_id"] == "call_1"
    assert "ship on friday" in items[3]["output"]


def test_session_ids_complete_newest_first(workspace: Workspace) -> None:
    import click

    from rupu.cli.complete import session_ids
    from rupu.cli.session import show_session

    workspace.write_agent("echo", "---\nname: echo\nprovider: mock\n---\nx\n")
    for prompt in ("one", "two"):
        assert run_rupu("run", "--agent", "echo", prompt).code == 0
    newest, oldest = (s["session_id"] for s in sessions_json())
    ctx = click.Context(show_session)
    (param,) = show_session.params[:1]
    assert [c.value for c in session_ids(ctx, param, "")] == [newest, oldest]
    assert [c.value for c in session_ids(ctx, param, oldest[:-1])] == [oldest]
