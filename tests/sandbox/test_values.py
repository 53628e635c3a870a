"""Alipay's value formats."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from sandbox.values import BEIJING, mask_logon_id, money, parse_money, timeout_deadline, valid_timeout_express


@pytest.mark.parametrize(("text", "expected"), [
    ("0.01", Decimal("0.01")), ("1", Decimal("1")), ("88.8", Decimal("88.8")), ("100000000", Decimal("100000000")),
    (9.9, Decimal("9.9")), (3, Decimal("3")),
    ("0", None), ("0.001", None), ("100000000.01", None), ("-1", None), ("1e2", None), (" 1", None),
    ("１", None), ("1.", None), (".5", None), (True, None), (None, None), ("", None),
])
def test_parse_money(text, expected):
    assert parse_money(text) == expected


def test_money_has_two_decimals():
    assert money(Decimal("5")) == "5.00" and money(Decimal("-5.5")) == "-5.50"


@pytest.mark.parametrize(("text", "ok"), [
    ("1m", True), ("90m", True), ("15d", True), ("360h", True), ("1c", True),
    ("0m", False), ("16d", False), ("361h", False), ("1.5h", False), ("2c", False), ("m", False), ("5s", False),
])
def test_timeout_express(text, ok):
    assert valid_timeout_express(text) is ok


def test_1c_ends_at_beijing_midnight():
    start = datetime(2026, 1, 1, 23, 30, tzinfo=BEIJING)
    assert timeout_deadline("1c", start) == datetime(2026, 1, 2, tzinfo=BEIJING)
    assert timeout_deadline("2h", start) == datetime(2026, 1, 2, 1, 30, tzinfo=BEIJING)


def test_masking():
    assert mask_logon_id("buyer@sandbox.com") == "buy***@sandbox.com"
    assert mask_logon_id("13812345678") == "138******78"
