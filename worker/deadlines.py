"""When an unpaid trade expires: Alipay's `timeout_express` grammar turned into an aware deadline."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")
_GRAMMAR = re.compile(r"^([1-9][0-9]*)([mhd])$")
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}


def deadline(timeout_express: str, start: datetime) -> datetime:
    """`Nm`, `Nh`, `Nd` after `start`; `1c` is the coming midnight in Beijing (the end of that day)."""
    if timeout_express == "1c":
        local = start.astimezone(BEIJING)
        return datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=BEIJING)
    match = _GRAMMAR.match(timeout_express)
    if match is None:
        raise ValueError(f"not a timeout_express: {timeout_express!r}")
    return start + int(match.group(1)) * _UNITS[match.group(2)]
