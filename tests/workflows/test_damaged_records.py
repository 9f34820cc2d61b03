"""Issue 11 §5 (run store): garbage in a run's records is one line naming the file, exit 2, and never
stops rupu from working with the other runs; a garbage `index.sqlite` is rebuilt from the run folders."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rupu.cli.workflow_show import describe_run, print_run
from rupu.errors import ConfigError
from rupu.workflows.step_state import Prior
from rupu.workflows.store import RunStore
from tests.conftest import Workspace, run_rupu

FLOW = """name: flow
steps:
  - id: first
    agent: worker
    prompt: hello there
  - id: fan
    agent: worker
    for_each: [a, b]
    prompt: "item {{ item }}"
"""


@pytest.fixture
def flow(workspace: Workspace) -> Path:
    workspace.write_agent("worker", "---\nname: worker\nprovider: mock\n---\nWork.\n")
    directory = workspace.home / "workflows"
    directory.mkdir()
    path = directory / "flow.yaml"
    path.write_text(FLOW)
    return path


def start(workspace: Workspace) -> str:
    done = run_rupu("workflow", "run", "flow", "--format", "json")
    assert done.code == 0, done.stderr
    run_id = str(orjson.loads(done.stdout.splitlines()[-1])["run_id"])
    assert (workspace.home / "runs" / run_id).is_dir()
    return run_id


def listed(*expect_stderr: str) -> list[dict[str, object]]:
    result = run_rupu("workflow", "runs", "--format", "json")
    assert result.code == 0, result.stderr
    for wording in expect_stderr:
        assert wording in result.stderr
    assert "Traceback" not in result.stderr
    runs: list[dict[str, object]] = orjson.loads(result.stdout)["runs"]
    return runs


DAMAGE = {
    "run.json not json": ("run.json", b"{not json", "damaged run record: not valid JSON"),
    "run.json a list": ("run.json", b"[1, 2]", "damaged run record: not a JSON object (a list)"),
    "run.json wrong fields": (
        "run.json",
        b'{"run_id": 3, "workflow": "flow", "created": "x", "steps": []}',
        "damaged run record: missing or wrong run_id, created",
    ),
    "state.json binary": (
        "state.json",
        b"\xff\xfe\x00garbage",
        "damaged run record: not valid JSON",
    ),
    "state.json no status": (
        "state.json",
        b'{"tokens": 1}',
        "damaged run record: missing or wrong status",
    ),
    "step file": ("steps/fan.json", b'"just a string"', "damaged run record: not a JSON object"),
}


@pytest.mark.parametrize("case", list(DAMAGE), ids=list(DAMAGE))
def test_a_damaged_record_names_the_file_and_spares_other_runs(
    workspace: Workspace, flow: Path, case: str
) -> None:
    name, garbage, message = DAMAGE[case]
    damaged, healthy = start(workspace), start(workspace)
    target = workspace.home / "runs" / damaged / name
    target.write_bytes(garbage)

    for command in ("show-run", "resume"):
        result = run_rupu("workflow", command, damaged)
        assert result.code == 2, result.stderr
        line = result.stderr.strip()
        assert line == line.splitlines()[0], "one line"
        assert f"{target}: {message}" in line
        assert "other runs are unaffected" in line
        assert "Traceback" not in result.stderr

    assert {r["run_id"] for r in listed()} == {damaged, healthy}
    good = run_rupu("workflow", "show-run", healthy)
    assert good.code == 0, good.stderr
    assert "status: succeeded" in good.stdout
    assert run_rupu("workflow", "run", "flow", "--plain").code == 0


@pytest.mark.parametrize(
    "garbage",
    [b"this is not a database" * 100, b"SQLite format 3\x00" + b"\x07" * 4000, b""],
    ids=["text", "bad header", "empty"],
)
def test_a_garbage_index_is_rebuilt_from_the_run_folders(
    workspace: Workspace, flow: Path, garbage: bytes
) -> None:
    first, second = start(workspace), start(workspace)
    index = workspace.home / "runs" / "index.sqlite"
    for suffix in ("-wal", "-shm"):
        index.with_name(index.name + suffix).unlink(missing_ok=True)
    index.write_bytes(garbage)
    if not garbage:  # an empty file is a valid empty database: give it a table that is not ours
        with sqlite3.connect(index) as db:
            db.execute("CREATE TABLE runs (x TEXT)")

    runs = listed(f"rupu: warning: {index} was unreadable", "rebuilt it from 2 run folders")
    assert sorted((r["run_id"], r["status"], r["units_done"]) for r in runs) == [
        (first, "succeeded", 3),
        (second, "succeeded", 3),
    ]
    again = run_rupu("workflow", "runs")
    assert "warning" not in again.stderr  # rebuilt once, for good
    assert first in again.stdout and second in again.stdout


def test_the_index_rebuild_skips_a_damaged_run(workspace: Workspace, flow: Path) -> None:
    damaged, healthy = start(workspace), start(workspace)
    (workspace.home / "runs" / damaged / "run.json").write_bytes(b"garbage")
    (workspace.home / "runs" / "index.sqlite").write_bytes(b"garbage" * 200)
    runs = listed("rebuilt it from 1 run folder\n")
    assert [r["run_id"] for r in runs] == [healthy]


def _stored_run(root: Path) -> str:
    store = RunStore(root)
    record = store.create(
        "run_01TESTTESTTESTTESTTESTTEST",
        workflow="flow",
        source=root / "flow.yaml",
        text=FLOW,
        inputs={},
        overrides={},
        steps=["first", "fan"],
    )
    record.close()
    return record.run_id


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(
        ["run.json", "state.json", "steps/first.json", "units.jsonl", "events.jsonl"]
    ),
    content=st.binary(max_size=64)
    | JSON_VALUES.map(orjson.dumps)
    | st.dictionaries(
        st.sampled_from(["step", "unit", "type", "status", "tokens", "units", "error"]),
        JSON_VALUES,
    ).map(lambda d: orjson.dumps(d) + b"\n"),
)
def test_any_bytes_in_a_record_open_cleanly_or_fail_as_one_line(
    tmp_path: Path, name: str, content: bytes
) -> None:
    root = tmp_path / "home" / "runs"
    if not (root / "run_01TESTTESTTESTTESTTESTTEST").is_dir():
        _stored_run(root)
    target = root / "run_01TESTTESTTESTTESTTESTTEST" / name
    original = target.read_bytes() if target.exists() else None
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(content)
    try:
        record = RunStore(root).open("run_01TESTTESTTESTTESTTESTTEST")
        record.check_records()
        print_run(describe_run(record))
        Prior.load(record)
    except ConfigError as exc:
        assert not name.endswith(".jsonl")  # lines it cannot use are skipped
        assert exc.exit_code == 2
        assert exc.one_line().startswith(f"{target}: ")
        assert "\n" not in exc.one_line()
    finally:
        if original is None:
            target.unlink()
        else:
            target.write_bytes(original)
