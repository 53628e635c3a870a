"""Reconciliation results, and the command that reconciles one day.

- `GET /reconciliations/<yyyy-MM-dd>`: the report of that day's bill reconciliation (404 when there is none;
  the message says why the last attempt failed, when it did).
- `GET /reconciliations/sweep/last`: the counts of the last sweep of unsettled orders.
- `flask --app api reconcile [--date yyyy-MM-dd] [--no-repair]`: reconcile a day now (default: yesterday in
  Beijing), print a short table, exit 1 when there are discrepancies and 2 when the run failed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

import click
from flask import Blueprint, Flask, Response, current_app, jsonify
from redis.exceptions import RedisError

from api.errors import InvalidRequest, NotFound
from worker.alipay.client import AlipayClient
from worker.alipay.errors import AlipayError
from worker.reconciliation import (
    ReconciliationError,
    get_failure,
    get_report,
    last_sweep,
    previous_day,
    run_reconciliation,
)
from worker.settings import Settings

bp = Blueprint("reconciliations", __name__, cli_group=None)

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_day(text: str) -> date | None:
    """A calendar day written `yyyy-MM-dd`, or None."""
    try:
        return date.fromisoformat(text) if _DATE.fullmatch(text) else None
    except ValueError:
        return None


def _day(text: str) -> date:
    found = parse_day(text)
    if found is None:
        raise InvalidRequest(f"date {text!r} is not a day yyyy-MM-dd.", field="date")
    return found


@bp.get("/reconciliations/<day>")
def get_reconciliation(day: str) -> Response:
    found = get_report(current_app.config["STORE"], _day(day))
    if found is None:
        failure = get_failure(current_app.config["STORE"], day)
        why = f" The last attempt failed: {failure['message']}" if failure else ""
        raise NotFound(f"No reconciliation report for {day}.{why}", code="report_not_found")
    return jsonify(found)


@bp.get("/reconciliations/sweep/last")
def get_last_sweep() -> Response:
    found = last_sweep(current_app.config["STORE"])
    if found is None:
        raise NotFound("No reconciliation sweep has run yet.", code="sweep_not_found")
    return jsonify(found)


# --- the command ------------------------------------------------------------------------------------------


class RunFailed(click.ClickException):
    """The reconciliation could not run (no bill, gateway or Redis down, unreadable bill, another run): exit 2."""

    exit_code = 2


@contextmanager
def alipay_client(app: Flask) -> Iterator[AlipayClient]:
    """The gateway client for one command: `ALIPAY` from the config (tests), else one built from the settings
    and closed afterwards."""
    given: AlipayClient | None = app.config.get("ALIPAY")
    if given is not None:
        yield given
        return
    settings: Settings = app.config["SETTINGS"]
    with AlipayClient(settings.gateway_url, settings.app_id, settings.app_private_key, settings.alipay_public_key,
                      connect_timeout=settings.connect_timeout_s, read_timeout=settings.read_timeout_s) as client:
        yield client


def format_report(report: dict[str, Any]) -> str:
    """A short table for a terminal: the totals on both sides, then one line per discrepancy."""
    counts, totals = report["counts"], report["totals"]
    lines = [
        f"Reconciliation of {report['date']} (generated {report['generated_at']})",
        f"  Alipay: payments {counts['alipay_payments']} ({totals['alipay_payments']}), "
        f"refunds {counts['alipay_refunds']} ({totals['alipay_refunds']})",
        f"  here:   payments {counts['store_payments']} ({totals['store_payments']}), "
        f"refunds {counts['store_refunds']} ({totals['store_refunds']})",
    ]
    rows = report["discrepancies"]
    if rows:
        lines.append("")
        lines.append(f"  {'kind':<23} {'out_trade_no':<24} {'out_request_no':<24} {'alipay':>10} {'here':>10}  "
                     "repaired")
        for item in rows:
            lines.append(f"  {item['kind']:<23} {item['out_trade_no']:<24} {item['out_request_no'] or '-':<24} "
                         f"{_amount(item['alipay']):>10} {_amount(item['store']):>10}  "
                         f"{'yes' if item['repaired'] else 'no'}")
    lines.append("")
    lines.append(f"{counts['discrepancies']} discrepancies, {counts['repaired']} repaired.")
    return "\n".join(lines)


def _amount(side: dict[str, Any] | None) -> str:
    if side is None:
        return "-"
    return str(side.get("refund_amount") or side.get("total_amount") or "-")


@bp.cli.command("reconcile")
@click.option("--date", "day", default=None, metavar="YYYY-MM-DD",
              help="The Beijing day to reconcile (default: yesterday in Beijing).")
@click.option("--repair/--no-repair", default=True, show_default=True,
              help="Rebuild missing orders and add missing refunds, or only report.")
def reconcile_command(day: str | None, repair: bool) -> None:
    """Reconcile one day's Alipay trade bill with the store now, and print the report."""
    wanted = previous_day(datetime.now(UTC)) if day is None else parse_day(day)
    if wanted is None:
        raise click.BadParameter(f"{day!r} is not a day YYYY-MM-DD", param_hint="--date")
    try:
        with alipay_client(current_app) as client:
            report = run_reconciliation(current_app.config["STORE"], client, wanted, repair=repair)
    except (ReconciliationError, AlipayError) as exc:
        raise RunFailed(str(exc)) from None
    except RedisError as exc:
        raise RunFailed(f"Redis is unreachable ({exc})") from None
    click.echo(format_report(report))
    if report["counts"]["discrepancies"]:
        raise SystemExit(1)
