"""The route history: moving averages, rate limits kept apart from errors, atomic saves that merge
with what another process wrote, and a damaged file named in a config error."""

from __future__ import annotations

from pathlib import Path

import pytest

from rupu.errors import ConfigError
from rupu.routing.history import HISTORY_FILE, RouteHistory
from rupu.testing import FakeClock


def test_latency_is_a_moving_average(tmp_path: Path) -> None:
    history = RouteHistory.under(tmp_path, clock=FakeClock())
    history.record_first_token("p", "m", 1.0)
    history.record_first_token("p", "m", 2.0)
    assert history.record("p", "m").first_token_ms == pytest.approx(1300)
    history.save()
    again = RouteHistory.under(tmp_path, clock=FakeClock())
    assert again.record("p", "m").first_token_ms == pytest.approx(1300)


def test_rate_limits_and_request_faults_are_not_errors(tmp_path: Path) -> None:
    clock = FakeClock()
    history = RouteHistory.under(tmp_path, clock=clock)
    history.record_outcome("p", "m", None)
    history.record_outcome("p", "m", "server_error")
    history.record_outcome("p", "m", "bad_request")
    history.record_outcome("p", "m", "quota")
    history.record_rate_limit("p", "m", 120)
    record = history.record("p", "m")
    assert (record.calls, record.errors) == (2, 1)
    assert record.error_rate == pytest.approx(0.3)
    assert record.rate_limit_reset == clock.now + 120
    assert record.limited_for(clock.now + 100) == pytest.approx(20)
    assert record.limited_for(clock.now + 121) == 0


def test_save_merges_with_what_another_process_wrote(tmp_path: Path) -> None:
    first = RouteHistory.under(tmp_path, clock=FakeClock())
    second = RouteHistory.under(tmp_path, clock=FakeClock())
    first.record_first_token("a", "m", 0.5)
    second.record_first_token("b", "m", 0.7)
    first.save()
    second.save()
    merged = RouteHistory.under(tmp_path, clock=FakeClock()).load().models
    assert sorted(merged) == ["a:m", "b:m"]
    assert not list((tmp_path / "routing").glob("*.tmp*")), "no temporary file is left behind"


def test_a_damaged_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / HISTORY_FILE
    path.parent.mkdir(parents=True)
    path.write_text('{"version": 1, "models": {"p:m": {"first_token_ms": "fast"}}}')
    with pytest.raises(ConfigError) as caught:
        RouteHistory.under(tmp_path, clock=FakeClock()).load()
    assert str(path) in caught.value.message and "models.p:m.first_token_ms" in caught.value.message
    assert "delete the file" in (caught.value.hint or "")


def test_a_history_that_cannot_be_written_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "routing").write_text("a file where the directory should be")
    history = RouteHistory.under(tmp_path, clock=FakeClock())
    history.record_first_token("p", "m", 0.1)
    with pytest.raises(ConfigError, match="cannot"):
        history.save()
