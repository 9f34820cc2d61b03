"""The run store: the SQLite index under several processes at once (X15), atomic writes, the event
log's torn-line repair, and the background record writer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
import anyio.lowlevel
import orjson
import pytest

from rupu.workflows.events import ApprovalRequested, StepFinished, StepStarted
from rupu.workflows.index import RunIndex
from rupu.workflows.recordfile import read_events
from rupu.workflows.store import EventLog, QueuedTranscript, RunLock, write_atomic
from rupu.workflows.writer import RecordWriter, TickFile
from tests.conftest import REPO_ROOT
from tests.workflows.helpers import run_scripts_at_once

WRITER = """
import sys
from rupu.workflows.index import RunIndex
index = RunIndex(__import__("pathlib").Path(sys.argv[1]))
worker = sys.argv[2]
for n in range(40):
    run_id = f"run_{worker}_{n:03d}"
    index.record(run_id, workflow="w", source="s", status="running", created=n, steps_total=3)
    index.record(run_id, workflow="w", source="s", status="succeeded", created=n, steps_total=3,
                 steps_done=3, tokens=n)
    index.recent(limit=5)
"""


def test_index_survives_several_processes_writing_at_once(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    results = run_scripts_at_once(WRITER, [[str(path), str(worker)] for worker in range(4)])
    assert [stderr for code, stderr in results if code != 0] == []
    rows = RunIndex(path).recent(limit=1000)
    assert len(rows) == 160
    assert {r.status for r in rows} == {"succeeded"}
    assert sum(r.tokens for r in rows) == 4 * sum(range(40))
    assert RunIndex(path).ids_starting("run_2_01") == [f"run_2_01{n}" for n in range(9, -1, -1)]


def test_write_atomic_replaces_without_leftovers(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    target = tmp_path / "run" / "state.json"
    write_atomic(target, b"old")
    write_atomic(target, b"new", durable=True)
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["state.json"]
    assert target.stat().st_mode & 0o777 == 0o600


def test_event_log_repairs_a_torn_line_and_continues_the_sequence(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path, "run_x")
    log.append(StepStarted(step="one", units=1))
    log.append(StepFinished(step="two", status="succeeded"))
    log.close()
    with path.open("ab") as handle:
        handle.write(b'{"seq": 3, "type": "thr')
    log = EventLog(path, "run_x")
    assert log.warnings and "torn last line (23 bytes)" in log.warnings[0]
    log.append(ApprovalRequested(step="three"))
    log.close()
    events = list(read_events(path))
    assert [(e["seq"], e["type"], e["step"]) for e in events] == [
        (1, "step_started", "one"),
        (2, "step_finished", "two"),
        (3, "approval_requested", "three"),
    ]


def test_record_writer_keeps_per_file_order_and_reports_errors(tmp_path: Path) -> None:
    writer = RecordWriter()
    files = [tmp_path / f"t{n}.jsonl" for n in range(10)]
    for line in range(50):
        for path in files:
            writer.append(str(path), orjson.dumps({"n": line}) + b"\n")
    for path in files:
        writer.close(str(path))
    writer.replace(str(tmp_path / "step.json"), b"{}")
    writer.flush()
    for path in files:
        assert [orjson.loads(x)["n"] for x in path.read_bytes().splitlines()] == list(range(50))
        assert path.stat().st_mode & 0o777 == 0o600
    writer.append(str(tmp_path / "missing" / "dir.jsonl"), b"x")
    try:
        writer.flush()
    except FileNotFoundError:
        pass
    else:
        raise AssertionError("a failed write must surface at flush")
    writer.shutdown()


@pytest.mark.anyio
async def test_tick_file_joins_one_tick_of_appends_into_one_write(tmp_path: Path) -> None:
    path = tmp_path / "units.jsonl"
    ticked = TickFile(str(path))
    for n in range(100):
        ticked.append(b"%d\n" % n)
    assert not path.exists()
    await anyio.lowlevel.checkpoint()
    assert path.read_bytes().splitlines() == [b"%d" % n for n in range(100)]
    ticked.append(b"last\n")
    ticked.close()
    assert path.read_bytes().endswith(b"99\nlast\n")


def test_run_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    first = RunLock(tmp_path / "lock")
    first.acquire("run_x")
    assert RunLock(tmp_path / "lock").held_elsewhere()
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from rupu.workflows.store import RunLock;"
            "RunLock(Path(sys.argv[1])).acquire('run_x')",
            str(tmp_path / "lock"),
        ],
        env={"PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert "run run_x is being executed by another rupu process" in probe.stderr
    first.release()
    assert not RunLock(tmp_path / "lock").held_elsewhere()


def test_a_queued_transcript_hands_its_lines_over_in_batches(tmp_path: Path) -> None:
    writer = RecordWriter()
    path = tmp_path / "t.0.jsonl"
    transcript = QueuedTranscript(str(path), writer)
    transcript.BATCH_SECONDS = 3600.0  # nothing is due before close()
    transcript.write("run_start", agent="a")
    transcript.write("user_prompt", text="hi")
    writer.flush()
    assert not path.exists()
    transcript.close()
    writer.flush()
    assert [orjson.loads(line)["type"] for line in path.read_bytes().splitlines()] == [
        "run_start",
        "user_prompt",
    ]
    assert transcript.path == path

    due = QueuedTranscript(str(tmp_path / "t.1.jsonl"), writer)
    due.BATCH_SECONDS = 0.0  # every write after the first is past due: lines go at once
    due.write("run_start")
    due.write("turn_start")
    writer.flush()
    assert len((tmp_path / "t.1.jsonl").read_bytes().splitlines()) == 2
    due.write("run_complete")
    due.close()
    writer.shutdown()
    assert len((tmp_path / "t.1.jsonl").read_bytes().splitlines()) == 3
