"""Session records: saved privately, found by id or a unique prefix, the latest per directory."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from rupu.errors import ConfigError, UsageError
from rupu.sessions.store import SessionRun, SessionStore


def test_saved_found_by_prefix_and_latest_per_directory(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    here, there = tmp_path / "here", tmp_path / "there"
    first = store.new(agent="a", agent_path="/a.md", directory=here, title="  one\n two ")
    assert first.title == "one two" and first.id.startswith("ses_")
    second = store.new(agent="b", agent_path="/b.md", directory=there, title="x" * 100)
    assert len(second.title) == 80 and second.title.endswith("…")
    first = first.with_run(SessionRun(run_id="run_1", provider="p", model="m", started=10))
    second = second.with_run(SessionRun(run_id="run_2", provider="p", model="m", started=20))
    store.save(first)
    store.save(second)
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.path_of(first.id).stat().st_mode) == 0o600
    assert [r.id for r in store.all()] == [second.id, first.id]
    assert store.latest_in(here) == first
    assert store.find(first.id) == first
    assert store.find(first.id.removeprefix("ses_")) == first
    with pytest.raises(UsageError, match="matches 2 sessions"):
        store.find("ses_")
    with pytest.raises(UsageError, match="no session to continue in"):
        store.latest_in(tmp_path / "elsewhere")
    store.remove(first)
    with pytest.raises(UsageError, match="no session"):
        store.find(first.id)


def test_a_damaged_record_is_named_when_asked_for_and_skipped_in_lists(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    store.directory.mkdir(mode=0o700)
    store.path_of("ses_BROKEN").write_text("{not json")
    assert store.all() == []
    with pytest.raises(ConfigError, match=r"ses_BROKEN.json: is not a session record"):
        store.find("ses_BROKEN")


def test_runs_added_from_two_stale_copies_both_stay(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    record = store.new(agent="a", agent_path="/a.md", directory=tmp_path, title="t")
    one = SessionRun(run_id="run_1", provider="p", model="m", started=1)
    two = SessionRun(run_id="run_2", provider="p", model="m", started=2)
    store.add_run(record, one)
    store.add_run(record, two)  # `record` is stale: it knows neither run
    assert [r.run_id for r in store.find(record.id).runs] == ["run_1", "run_2"]
