"""Deadlines from timeoutExpress, the poll cadence, and retry back-off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from worker.deadlines import BEIJING, deadline
from worker.tasks.gateway import backoff_s
from worker.tasks.poll import next_interval

START = datetime(2026, 11, 26, 15, 30, tzinfo=UTC)  # 23:30 in Beijing


@pytest.mark.parametrize(("text", "delta"), [("1m", timedelta(minutes=1)), ("90m", timedelta(minutes=90)),
                                             ("2h", timedelta(hours=2)), ("15d", timedelta(days=15))])
def test_relative_deadlines(text: str, delta: timedelta) -> None:
    assert deadline(text, START) == START + delta


def test_1c_ends_at_midnight_in_beijing() -> None:
    end = deadline("1c", START)
    assert end.astimezone(BEIJING) == datetime(2026, 11, 27, 0, 0, tzinfo=BEIJING)
    assert end - START == timedelta(minutes=30)


def test_a_malformed_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="timeout_express"):
        deadline("1.5h", START)


def test_polls_start_fast_then_back_off() -> None:
    intervals = (2.0, 2.0, 5.0, 30.0)
    assert [next_interval(t, intervals) for t in (0, 1.9, 2.1, 4.5, 8.9, 9.1, 500)] == [2, 2, 2, 5, 5, 30, 30]


def test_backoff_grows_with_jitter_and_stays_under_its_cap() -> None:
    for attempt in range(1, 20):
        delay = backoff_s(attempt, cap_s=60)
        ceiling = min(60, 2 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling
