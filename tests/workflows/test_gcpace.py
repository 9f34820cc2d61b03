"""The garbage collector's pace during a run: slower while runs go, the process's own after."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from rupu.workflows.gcpace import RUN_THRESHOLD, run_pace


@pytest.fixture(autouse=True)
def _thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


def test_a_run_collects_less_often_and_restores_the_thresholds() -> None:
    gc.set_threshold(700, 11, 12)
    with run_pace():
        assert gc.get_threshold() == (RUN_THRESHOLD, 11, 12)
    assert gc.get_threshold() == (700, 11, 12)


def test_overlapping_runs_restore_when_the_last_one_ends() -> None:
    gc.set_threshold(700, 10, 10)
    first, second = run_pace(), run_pace()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_threshold() == (RUN_THRESHOLD, 10, 10)
    second.__exit__(None, None, None)
    assert gc.get_threshold() == (700, 10, 10)


def test_a_failing_run_restores_the_thresholds() -> None:
    gc.set_threshold(700, 10, 10)
    with pytest.raises(RuntimeError), run_pace():
        raise RuntimeError("boom")
    assert gc.get_threshold() == (700, 10, 10)


@pytest.mark.parametrize("young", [0, RUN_THRESHOLD * 2])
def test_a_process_that_chose_its_own_pace_keeps_it(young: int) -> None:
    gc.set_threshold(young, 10, 10)
    with run_pace():
        assert gc.get_threshold() == (young, 10, 10)
    assert gc.get_threshold() == (young, 10, 10)
