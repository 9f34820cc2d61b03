"""Acceptance 3: every load-time error is reported with file:line, exit 2 and no traceback, before a
single request reaches the provider."""

from __future__ import annotations

import pytest

from tests.conftest import Workspace, run_rupu
from tests.servers.openai_chat import ChatCompletionsServer, stream_reply, text_stream

HEAD = """name: flow
inputs:
  target: {default: x}
steps:
  - id: first
    agent: worker
    prompt: "this step is fine"
"""

CASES = {
    "unknown agent": (
        "  - id: second\n    agent: wroker  # <-\n    prompt: p\n",
        "step 'second': no agent named 'wroker' (did you mean 'worker'?)",
    ),
    "unknown provider": (
        "  - id: second\n    agent: worker\n    provider: alhpa  # <-\n    prompt: p\n",
        "step 'second': unknown provider 'alhpa' (did you mean 'alpha'?)",
    ),
    "cycle": (
        "  - id: second\n    agent: worker\n    depends_on: [third]  # <-\n    prompt: p\n"
        "  - id: third\n    agent: worker\n    prompt: '{{ steps.second.output }}'\n",
        "dependency cycle: second -> third -> second",
    ),
    "later reference": (
        "  - id: second\n    agent: worker\n    prompt: '{{ steps.third.output }}'  # <-\n"
        "  - id: third\n    agent: worker\n    prompt: p\n",
        "step 'second' prompt reads step 'third', which is declared later",
    ),
    "unknown field": (
        "  - id: second\n    agent: worker\n    prompt: '{{ steps.first.sucess }}'  # <-\n",
        "step 'second' prompt reads unknown field 'steps.first.sucess' (did you mean 'success'?)",
    ),
    "unknown input": (
        "  - id: second\n    agent: worker\n    prompt: '{{ inputs.tagret }}'  # <-\n",
        "step 'second' prompt reads unknown input 'tagret' (did you mean 'target'?)",
    ),
    "unknown key": (
        "  - id: second\n    agent: worker\n    continue_on_eror: true  # <-\n    prompt: p\n",
        "unknown key 'steps.1.continue_on_eror' (did you mean 'continue_on_error'?)",
    ),
    "unknown kind key": (
        "  - id: second\n    rnu: make test  # <-\n",
        "unknown key 'steps.1.rnu' (did you mean 'run'?)",
    ),
    "bad key for a kind": (
        "  - id: second\n    run: make test\n    agent: worker  # <-\n",
        "step 'second': `agent` does not apply to run steps",
    ),
    "unknown key of a matrix step": (
        "  - id: second\n    agent: worker\n    prompt: p\n    matrix: {model: [alpha:m]}\n"
        "    max_paralel: 2  # <-\n",
        "unknown key 'steps.1.max_paralel' (did you mean 'max_parallel'?)",
    ),
    "matrix unknown provider": (
        "  - id: second\n    agent: worker\n    prompt: p\n    matrix:\n      model:\n"
        "        - alpha:m\n        - alhpa:m  # <-\n",
        "step 'second' combination 1: unknown provider 'alhpa' (did you mean 'alpha'?)",
    ),
    "run field of an agent step": (
        "  - id: second\n    agent: worker\n    prompt: '{{ steps.first.exit_code }}'  # <-\n",
        "step 'second' prompt reads steps.first.exit_code, but 'first' is not a run step",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_load_errors_stop_the_run_before_any_request(workspace: Workspace, case: str) -> None:
    tail, message = CASES[case]
    text = HEAD + tail
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.endswith("# <-"))
    with ChatCompletionsServer(api_key="k") as server:
        server.default_reply = lambda _: stream_reply(text_stream(["hi"]))
        workspace.write_config(f'[providers.alpha]\nbase_url = "{server.base_url}"\n')
        workspace.write_agent(
            "worker", "---\nname: worker\nprovider: alpha\nmodel: m\n---\nWork.\n", project=True
        )
        path = workspace.project / "flow.yaml"
        path.write_text(text)
        result = run_rupu("workflow", "run", "flow.yaml", env={"RUPU_ALPHA_API_KEY": "k"})
        assert server.requests == []
    assert result.code == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith(f"rupu: error: {path}:{line}: {message}")
    assert "Traceback" not in result.stderr
    assert not (workspace.home / "runs").exists() or not any(
        (workspace.home / "runs").glob("run_*")
    ), "no run record is created for a workflow that does not load"
