"""GET /reconciliations/<date>, GET /reconciliations/sweep/last, and `flask reconcile`."""

from __future__ import annotations

from datetime import date

import pytest

from api import create_app
from tests.worker.reconciliation.conftest import (
    BILL_METHOD,
    FakeGateway,
    bill_zip,
    not_exist,
    pay_row,
    put_order,
    refund_row,
)
from worker.reconciliation import RunLock
from worker.reconciliation.reports import record_failure, save_sweep
from worker.settings import Settings
from worker.store import Keys, Store


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway(bill=bill_zip([pay_row("A1", "10.00"), pay_row("B1", "5.00"), refund_row("B1", "B1R", "1.00")]))


@pytest.fixture
def app(keys, redis_db, gateway):
    settings = Settings.from_env({"ALIPAY_APP_PRIVATE_KEY_FILE": str(keys.path("app_private_key.pem")),
                                  "ALIPAY_PUBLIC_KEY_FILE": str(keys.path("alipay_public_key.txt"))})
    return create_app({"SETTINGS": settings, "STORE": Store(redis_db), "CELERY": object(), "ALIPAY": gateway,
                       "TESTING": True})


@pytest.fixture
def store(app) -> Store:
    return app.config["STORE"]


def test_the_command_reconciles_prints_a_table_and_fails_on_discrepancies(app, store: Store) -> None:
    put_order(store, "A1", "10.00", status="TRADE_SUCCESS", gmt_payment="2026-11-25 08:00:00")
    result = app.test_cli_runner().invoke(args=["reconcile", "--date", "2026-11-25"])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("Reconciliation of 2026-11-25 (generated ")
    assert lines[1] == "  Alipay: payments 2 (15.00), refunds 1 (1.00)"
    assert lines[2] == "  here:   payments 1 (10.00), refunds 0 (0.00)"
    assert lines[5].split() == ["missing_order", "B1", "-", "5.00", "-", "yes"]
    assert lines[6].split() == ["refund_missing", "B1", "B1R", "1.00", "-", "yes"]
    assert lines[-1] == "2 discrepancies, 2 repaired."
    assert store.get_order("B1")["restored_by"] == "reconciliation"

    again = app.test_cli_runner().invoke(args=["reconcile", "--date", "2026-11-25"])
    assert again.exit_code == 0 and again.output.splitlines()[-1] == "0 discrepancies, 0 repaired."


def test_the_command_can_only_report(app, store: Store) -> None:
    result = app.test_cli_runner().invoke(args=["reconcile", "--date", "2026-11-25", "--no-repair"])
    assert result.exit_code == 1 and result.output.splitlines()[-1] == "3 discrepancies, 0 repaired."
    assert store.get_order("B1") is None


def test_the_command_fails_clearly_without_a_bill(app, gateway: FakeGateway) -> None:
    gateway.bill = not_exist(BILL_METHOD, "BILL_NOT_EXIST")
    result = app.test_cli_runner().invoke(args=["reconcile", "--date", "2026-11-25"])
    assert result.exit_code == 2
    assert "Alipay has no trade bill for 2026-11-25 (BILL_NOT_EXIST)" in result.output


def test_the_command_refuses_a_bad_date_and_a_busy_lock(app, store: Store) -> None:
    bad = app.test_cli_runner().invoke(args=["reconcile", "--date", "25/11/2026"])
    assert bad.exit_code == 2 and "--date" in bad.output
    with RunLock(store.redis, Keys.reconciliation_lock("bill"), 5):
        busy = app.test_cli_runner().invoke(args=["reconcile", "--date", "2026-11-25"])
    assert busy.exit_code == 2 and "another bill reconciliation is running" in busy.output


def test_reports_are_served_and_a_missing_one_is_a_json_404(app, store: Store) -> None:
    client = app.test_client()
    missing = client.get("/reconciliations/2026-11-25")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "report_not_found"
    app.test_cli_runner().invoke(args=["reconcile", "--date", "2026-11-25"])
    found = client.get("/reconciliations/2026-11-25")
    assert found.status_code == 200
    body = found.json
    assert body["date"] == "2026-11-25" and body["counts"]["discrepancies"] == 3
    assert body["totals"]["alipay_payments"] == "15.00"
    assert [(d["kind"], d["out_trade_no"]) for d in body["discrepancies"]] == [
        ("missing_order", "A1"), ("missing_order", "B1"), ("refund_missing", "B1")]
    assert client.get("/reconciliations/2026-13-01").status_code == 400
    assert client.get("/reconciliations/yesterday").json["error"]["field"] == "date"


def test_a_failed_attempt_is_explained_in_the_404(app, store: Store) -> None:
    record_failure(store, date(2026, 11, 24), {"message": "Alipay has no trade bill for 2026-11-24"}, 60)
    answer = app.test_client().get("/reconciliations/2026-11-24")
    assert answer.status_code == 404 and "The last attempt failed: Alipay has no trade bill" in \
        answer.json["error"]["message"]


def test_the_last_sweep_is_served(app, store: Store) -> None:
    client = app.test_client()
    assert client.get("/reconciliations/sweep/last").status_code == 404
    save_sweep(store, {"checked": 3, "changed": 1, "failed": 0})
    assert client.get("/reconciliations/sweep/last").json == {"checked": 3, "changed": 1, "failed": 0}
