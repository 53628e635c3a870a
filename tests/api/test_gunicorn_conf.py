"""gunicorn.conf.py: access lines only when ACCESS_LOG asks for them."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
from gunicorn.glogging import Logger

CONF = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"


def access_lines(monkeypatch: pytest.MonkeyPatch, value: str | None) -> tuple[object, int]:
    if value is None:
        monkeypatch.delenv("ACCESS_LOG", raising=False)
    else:
        monkeypatch.setenv("ACCESS_LOG", value)
    conf = runpy.run_path(str(CONF))
    written: list[tuple] = []
    monkeypatch.setattr(Logger, "access", lambda self, *args: written.append(args))
    logger = conf["logger_class"].__new__(conf["logger_class"])  # no setup: only `access` is exercised
    logger.access("resp", "req", {}, 0.01)
    return conf["accesslog"], len(written)


@pytest.mark.parametrize(("value", "expected"), [(None, (None, 0)), ("0", (None, 0)), ("1", ("-", 1)),
                                                 ("true", ("-", 1))])
def test_access_lines_only_with_access_log(monkeypatch: pytest.MonkeyPatch, value: str | None,
                                            expected: tuple[object, int]) -> None:
    assert access_lines(monkeypatch, value) == expected
