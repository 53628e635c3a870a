"""Operations against the running stack: /metrics sums every process's counters, and every line our processes
log is one JSON object that holds no key, signature, API key or full buyer identity.

Non-JSON lines are allowed in two places only: the sandbox's log (it plays Alipay and keeps plain logs), and
in a Celery worker's or beat's log, what Celery prints to stdout rather than logs: its start-up banner and its
`worker: Warm shutdown (MainProcess)` notice.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port
from tests.integration.receiver import Receiver
from tests.integration.stack import BIN, ROOT, Stack, eventually

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

CELERY_BANNER_START = re.compile(r"^( -------------- \S+@\S+ v\d|celery beat v\d\S* .*is starting\.$)")
CELERY_SHUTDOWN_NOTICE = re.compile(r"^worker: (Warm|Cold) shutdown \(MainProcess\)$")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def scrape(stack: Stack, **kwargs: object) -> Samples:
    response = stack.call("GET", "/metrics", **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def orders_total(samples: Samples) -> float:
    return sum(v for (name, _), v in samples.items() if name == "alipay_worker_orders")


def paid_and_refunded(stack: Stack, callback_url: str, buyer: dict[str, str]) -> tuple[str, str, str]:
    """precreate, pay (as `buyer`), refund 1.00; returns out_trade_no and the two job ids."""
    otn, body = stack.precreate("5.00", callbackUrl=callback_url)
    assert stack.job(body["job_id"])["status"] == "succeeded"
    assert stack.sandbox_post(f"/sandbox/trades/{otn}/pay", json=buyer).status_code < 300
    stack.wait_order(otn, lambda o: o["status"] == "TRADE_SUCCESS")
    refund = stack.refund(otn, "1.00", f"{otn}R1", wait=15)
    assert refund.status_code == 200 and refund.json()["status"] == "succeeded", refund.text
    return otn, body["job_id"], refund.json()["job_id"]


def new_buyer() -> dict[str, str]:
    return {"buyer_id": "2088" + "".join(random.choices("0123456789", k=12)),
            "buyer_logon_id": f"obs{uuid.uuid4().hex[:10]}@example.com"}


def test_metrics_count_a_payment_and_a_refund_across_processes(stack: Stack, receiver: Receiver) -> None:
    before = scrape(stack)
    otn, _, _ = paid_and_refunded(stack, receiver.url, new_buyer())
    eventually(lambda: len(receiver.received) >= 2, message="order.paid and order.refunded delivered")

    def moved() -> Samples | None:
        after = scrape(stack)
        grew = {key: after.get(key, 0.0) - before.get(key, 0.0) for key in after}
        wanted = [
            grew[("alipay_worker_jobs_succeeded_total", (("type", "precreate"),))] >= 1,
            grew[("alipay_worker_jobs_succeeded_total", (("type", "refund"),))] >= 1,
            grew[("alipay_worker_webhook_deliveries_total", (("outcome", "delivered"),))] >= 2,
            sum(v for (name, labels), v in grew.items()
                if name == "alipay_worker_notifications_total" and ("result", "accepted") in labels) >= 1,
        ]
        return after if all(wanted) else None

    after = eventually(moved, message="the flow's counters")
    # Submissions happen only when a test asks: exactly the flow's two.
    for job_type, grown in (("precreate", 1), ("refund", 1), ("refund_query", 0)):
        name = "alipay_worker_jobs_submitted_total"
        assert value(after, name, type=job_type) - value(before, name, type=job_type) == grown
    for method in ("alipay.trade.precreate", "alipay.trade.refund"):
        calls = "alipay_worker_gateway_calls_total"
        assert value(after, calls, method=method, outcome="success") > value(before, calls, method=method,
                                                                             outcome="success")
        count = "alipay_worker_gateway_call_duration_seconds_count"
        assert value(after, count, method=method) > value(before, count, method=method)
        assert ("alipay_worker_gateway_call_duration_seconds_bucket", (("le", "+Inf"), ("method", method))) in after
    assert ("alipay_worker_jobs_retried_total", (("type", "refund"),)) in after
    assert ("alipay_worker_jobs_failed_total", (("type", "precreate"),)) in after
    # The gauges come from Redis: one more order in all, and this one counted as paid.
    assert orders_total(after) - orders_total(before) == 1
    assert value(after, "alipay_worker_orders", status="TRADE_SUCCESS") >= 1
    assert ("alipay_worker_poll_waiting_trades", ()) in after
    assert stack.order(otn)["status"] == "TRADE_SUCCESS"
    # One scrape, many writers: the API's worker and the Celery children each keep their own file.
    pids = {path.stem.rsplit("_", 1)[-1] for path in (stack.log_dir / "metrics").glob("*.db")}
    assert len(pids) >= 3


def test_a_refused_notification_is_counted_by_reason(stack: Stack) -> None:
    name = "alipay_worker_notifications_total"
    before = value(scrape(stack), name, result="refused", reason="bad_signature")
    answer = stack.call("POST", "/notify", data={"out_trade_no": "NOPE", "sign": "forged", "sign_type": "RSA2"})
    assert answer.text == "failure"
    assert value(scrape(stack), name, result="refused", reason="bad_signature") == before + 1


def start_keyed_api(stack: Stack, api_key: str) -> str:
    """A second API process of the stack with API_KEYS set; returns its URL."""
    port = free_port()
    stack._spawn("api-keyed", [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"),
                               "--bind", f"127.0.0.1:{port}", "api:create_app()"],
                 {**stack.env, "API_KEYS": api_key, "PORT": str(port)})
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(f"{url}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    eventually(up, 30, message="keyed api up")
    return url


def test_metrics_are_behind_the_api_keys_when_set(stack: Stack) -> None:
    api_key = "obs-key-" + uuid.uuid4().hex
    url = start_keyed_api(stack, api_key)
    try:
        assert requests.get(f"{url}/metrics", timeout=10).status_code == 401
        wrong = requests.get(f"{url}/metrics", headers={"Authorization": "Bearer wrong-" + api_key}, timeout=10)
        assert wrong.status_code == 401
        right = requests.get(f"{url}/metrics", headers={"Authorization": f"Bearer {api_key}"}, timeout=10)
        assert right.status_code == 200 and "alipay_worker_orders" in right.text
    finally:
        stack.stop(["api-keyed"])
    assert api_key not in stack.logs("api-keyed")


# --- logs -----------------------------------------------------------------------------------------------


def without_celery_output(lines: list[str]) -> list[str]:
    """The lines left when what Celery prints (not logs) is taken out: the start-up banner, from its first line
    (with the blank line before it) to the blank line that ends it or the `[tasks]` list that may follow, and
    the shutdown notice."""
    kept: list[str] = []
    in_banner = False
    for i, line in enumerate(lines):
        if in_banner:
            in_banner = bool(line.strip()) or (i + 1 < len(lines) and lines[i + 1] == "[tasks]")
            continue
        if CELERY_BANNER_START.match(line):
            in_banner = True
            continue
        if not line.strip() and i + 1 < len(lines) and CELERY_BANNER_START.match(lines[i + 1]):
            continue
        if CELERY_SHUTDOWN_NOTICE.match(line):
            continue
        kept.append(line)
    return kept


def our_logs(stack: Stack) -> dict[str, str]:
    """Every process log of the stack but the sandbox's."""
    return {path.stem: path.read_text(errors="replace") for path in sorted(stack.log_dir.glob("*.log"))
            if path.stem != "sandbox"}


def key_lines(path: Path) -> list[str]:
    """The base64 lines of a PEM key file, each long enough to be unmistakable."""
    return [line for line in path.read_text().splitlines() if line and not line.startswith("-----")]


def test_every_line_is_json_and_nothing_secret_is_logged(stack: Stack, receiver: Receiver) -> None:
    buyer = new_buyer()
    otn, precreate_job, refund_job = paid_and_refunded(stack, receiver.url, buyer)
    stack.fault("alipay.trade.refund", "http_502", times=1)  # a retry: error lines with the job's context
    retried = stack.refund(otn, "0.50", f"{otn}R2", wait=15).json()
    assert retried["status"] == "succeeded" and retried["attempts"] == 2
    fake_key = "obs-not-a-key-" + uuid.uuid4().hex
    assert stack.call("GET", f"/orders/{otn}", headers={"Authorization": f"Bearer {fake_key}"}).status_code == 200
    marker = f"/jobs/{uuid.uuid4().hex}"
    stack.call("GET", marker)
    eventually(lambda: marker in stack.logs("api"), message="the last access line written")

    logs = our_logs(stack)
    assert {"api", "worker", "beat"} <= set(logs)
    entries: list[dict] = []
    for name, text in logs.items():
        lines = text.splitlines()
        if name.startswith(("worker", "beat")):
            lines = without_celery_output(lines)
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                pytest.fail(f"{name}.log: not a JSON line: {line[:200]!r}")
            assert isinstance(entry, dict) and {"time", "level", "logger", "message"} <= set(entry), line
            entries.append(entry)

    everything = "\n".join(logs.values())
    for key_file in ("app_private_key.pem", "alipay_private_key.pem"):
        for line in key_lines(stack.keys.path(key_file)):
            assert line not in everything, f"a line of {key_file} was logged"
    signs = {unquote(s) for s in re.findall(r"[?&]sign=([^&\s\"]+)", stack.logs("sandbox"))}
    assert signs, "the sandbox's log shows the signed requests it received"
    for sign in signs:
        assert sign[:40] not in everything and sign[-40:] not in everything
    assert set(re.findall(r"(?<![\w])sign=([^&\s\"',]+)", everything)) <= {"[REDACTED]"}
    assert fake_key not in everything
    assert buyer["buyer_id"] not in everything and buyer["buyer_logon_id"] not in everything

    # The task's lines carry the job's context; the access lines the request's fields.
    precreate_lines = [e for e in entries if e.get("job_id") == precreate_job]
    assert precreate_lines and all(e.get("task") == "alipay.precreate" and e.get("out_trade_no") == otn
                                   for e in precreate_lines if "task_id" in e)
    retry_lines = [e for e in entries if e.get("job_id") == retried["job_id"] and e.get("attempt") == 1]
    assert any(e["level"] in ("INFO", "WARNING") and "failed" in e["message"] for e in retry_lines)
    assert any(e.get("task") == "webhooks.deliver" and e.get("out_trade_no") == otn for e in entries)
    assert any(e.get("logger") == "gunicorn.access" and e.get("path") == marker and e.get("status") == 404
               for e in entries)
    assert any(e.get("job_id") == refund_job for e in entries)
