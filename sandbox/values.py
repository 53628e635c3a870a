"""Alipay's value formats: money strings, Beijing timestamps and `timeout_express` durations."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
"""Alipay's time zone (no daylight saving since 1991, so a fixed offset is exact)."""

MIN_AMOUNT = Decimal("0.01")
MAX_AMOUNT = Decimal("100000000")
CENT = Decimal("0.01")

_MONEY = re.compile(r"[0-9]{1,9}(\.[0-9]{1,2})?")
_TIMEOUT = re.compile(r"([1-9][0-9]{0,4})([mhd])")
_UNIT_MINUTES = {"m": 1, "h": 60, "d": 1440}
_MAX_TIMEOUT_MINUTES = 15 * 1440
ALIPAY_TIME = "%Y-%m-%d %H:%M:%S"


def parse_money(value: object) -> Decimal | None:
    """A positive amount in yuan with at most two decimals, 0.01 to 100000000; None when invalid.

    JSON numbers are accepted as Alipay does; their text must still have at most two decimals.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = value if isinstance(value, str) else repr(value)
    if not _MONEY.fullmatch(text):
        return None
    amount = Decimal(text)
    if not MIN_AMOUNT <= amount <= MAX_AMOUNT:
        return None
    return amount


def money(amount: Decimal) -> str:
    """Two-decimal string, as every amount in Alipay's answers."""
    return f"{amount.quantize(CENT):.2f}"


def alipay_time(moment: datetime) -> str:
    """`yyyy-MM-dd HH:mm:ss` in Beijing time."""
    return moment.astimezone(BEIJING).strftime(ALIPAY_TIME)


def parse_alipay_time(text: str) -> datetime | None:
    """The aware moment of a `yyyy-MM-dd HH:mm:ss` Beijing timestamp; None when malformed."""
    try:
        return datetime.strptime(text, ALIPAY_TIME).replace(tzinfo=BEIJING)
    except (TypeError, ValueError):
        return None


def end_of_beijing_day(moment: datetime) -> datetime:
    """The next Beijing midnight after `moment`."""
    local = moment.astimezone(BEIJING)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + timedelta(days=1)


def valid_timeout_express(text: object) -> bool:
    """`Nm`, `Nh` or `Nd` between 1m and 15d (integers only), or `1c`."""
    if text == "1c":
        return True
    if not isinstance(text, str):
        return False
    match = _TIMEOUT.fullmatch(text)
    if match is None:
        return False
    return int(match[1]) * _UNIT_MINUTES[match[2]] <= _MAX_TIMEOUT_MINUTES


def timeout_deadline(text: str, start: datetime) -> datetime:
    """When a trade started at `start` with `timeout_express=text` closes; `1c` is the end of that Beijing day."""
    if text == "1c":
        return end_of_beijing_day(start)
    match = _TIMEOUT.fullmatch(text)
    if not match:
        raise ValueError(f"not a timeout_express: {text!r}")
    return start + timedelta(minutes=int(match[1]) * _UNIT_MINUTES[match[2]])


def mask_logon_id(logon_id: str) -> str:
    """Alipay's masking of a buyer account: the first three characters, then `***`, then the domain."""
    name, at, domain = logon_id.partition("@")
    if at:
        return f"{name[:3]}***@{domain}"
    if len(logon_id) >= 11 and logon_id.isdigit():
        return f"{logon_id[:3]}******{logon_id[-2:]}"
    return f"{logon_id[:3]}***"
