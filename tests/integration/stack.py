"""The whole service as real processes for integration tests: the sandbox, Celery workers and beat, and the
API under gunicorn, all pointed at the tests' own Redis. Tests talk to them over HTTP only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.conftest import KeySet, free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
APP_ID = "2021000000000042"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

FAST = {
    "POLL_INTERVALS_S": "0.3,0.5,1",
    "POLL_TICK_S": "0.2",
    "RETRY_BACKOFF_CAP_S": "0.4",
    "JOB_MAX_ATTEMPTS": "4",
    "ALIPAY_READ_TIMEOUT_S": "1.5",
    "ALIPAY_CONNECT_TIMEOUT_S": "1",
    "WORKER_CONCURRENCY": "4",
    "WEB_CONCURRENCY": "1",
    "WEB_THREADS": "32",
    "WEBHOOK_RETRY_S": "0.2,0.4,0.8",
    "WEBHOOK_SECRET": WEBHOOK_SECRET,
    "ACCESS_LOG": "1",
}


def eventually(check: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05,
               message: str = "condition") -> Any:
    """Poll `check` until it returns something truthy or the deadline passes (then fail with its last value)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{message} not reached within {timeout:g}s; last value: {last!r}")


@dataclass
class Stack:
    redis_url: str
    keys: KeySet
    log_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    api_port: int = field(default_factory=free_port)
    sandbox_port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def sandbox(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    @property
    def env(self) -> dict[str, str]:
        k = self.keys.directory
        env = {key: value for key, value in os.environ.items() if not key.startswith(("ALIPAY_", "SANDBOX_"))}
        env.update(FAST)
        env.update(
            PYTHONUNBUFFERED="1", PORT=str(self.api_port), SANDBOX_PORT=str(self.sandbox_port),
            REDIS_URL=self.redis_url, CELERY_BROKER_URL=self.redis_url,
            ALIPAY_GATEWAY=f"{self.sandbox}/gateway.do", ALIPAY_APP_ID=APP_ID,
            ALIPAY_APP_PRIVATE_KEY_FILE=str(k / "app_private_key.pem"),
            ALIPAY_PUBLIC_KEY_FILE=str(k / "alipay_public_key.txt"),
            ALIPAY_NOTIFY_URL=f"{self.api}/notify",
            SANDBOX_APP_ID=APP_ID, SANDBOX_APP_PUBLIC_KEY_FILE=str(k / "app_public_key.pem"),
            SANDBOX_PRIVATE_KEY_FILE=str(k / "alipay_private_key.pem"),
            PROMETHEUS_MULTIPROC_DIR=str(self.log_dir / "metrics"),  # fresh with the stack; made by worker.metrics
        )
        env.pop("API_KEYS", None)
        env.update(self.extra_env)
        return env

    # --- processes ----------------------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - kept by the child
        proc = subprocess.Popen(argv, cwd=ROOT, env=env or self.env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs[name] = proc
        return proc

    def start_sandbox(self) -> None:
        self._spawn("sandbox", [str(BIN / "python"), "-m", "sandbox", "--port", str(self.sandbox_port)])
        eventually(lambda: self._answers(f"{self.sandbox}/healthz"), 20, message="sandbox up")

    def start_api(self) -> None:
        self._spawn("api", [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"),
                            "--bind", f"127.0.0.1:{self.api_port}", "api:create_app()"])
        eventually(lambda: self._answers(f"{self.api}/healthz"), 30, message="api up")

    def start_worker(self, name: str = "worker", **env: str) -> subprocess.Popen[bytes]:
        return self._spawn(name, [str(BIN / "celery"), "-A", "worker.celery_app", "worker", "--loglevel", "INFO",
                                  "--hostname", f"{name}-{uuid.uuid4().hex[:6]}@%h",
                                  "--without-gossip", "--without-mingle"], {**self.env, **env})

    def start_beat(self) -> None:
        self._spawn("beat", [str(BIN / "celery"), "-A", "worker.celery_app", "beat", "--loglevel", "INFO",
                             "--schedule", str(self.log_dir / "celerybeat-schedule")])

    def wait_ready(self, timeout: float = 60) -> None:
        eventually(lambda: self._answers(f"{self.api}/readyz"), timeout, 0.2, message="/readyz 200")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        proc.wait(20)

    def stop(self, names: Iterable[str] | None = None) -> None:
        for name in list(names or self.procs):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    @staticmethod
    def _answers(url: str) -> bool:
        try:
            return requests.get(url, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    # --- client helpers -----------------------------------------------------------------------------------

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 40)
        return requests.request(method, self.api + path, **kwargs)  # noqa: S113 - timeout set above

    def job(self, job_id: str, until: Iterable[str] = ("succeeded", "failed"), timeout: float = 20) -> dict:
        wanted = set(until)

        def check() -> dict | None:
            body = self.call("GET", f"/jobs/{job_id}").json()
            return body if body.get("status") in wanted else None

        return eventually(check, timeout, message=f"job {job_id} in {sorted(wanted)}")

    def order(self, otn: str) -> dict:
        return self.call("GET", f"/orders/{otn}").json()

    def wait_order(self, otn: str, check: Callable[[dict], bool], timeout: float = 20) -> dict:
        return eventually(lambda: (lambda o: o if check(o) else None)(self.order(otn)), timeout,
                          message=f"order {otn}")

    def precreate(self, amount: str = "10.00", timeout_express: str = "5m", **extra: Any) -> tuple[str, dict]:
        otn = "IT" + uuid.uuid4().hex[:20]
        params = dict(totalAmount=amount, subject="integration order", storeId="store_1",
                      timeoutExpress=timeout_express, outTradeNo=otn, **extra)
        response = self.call("POST", "/qrcode", data=params)
        assert response.status_code in (200, 202), response.text
        return otn, response.json()

    def paid_order(self, amount: str = "10.00") -> str:
        otn, body = self.precreate(amount)
        assert self.job(body["job_id"])["status"] == "succeeded"
        assert self.sandbox_post(f"/sandbox/trades/{otn}/pay").status_code < 300
        self.wait_order(otn, lambda o: o["status"] == "TRADE_SUCCESS")
        return otn

    def refund(self, otn: str, amount: str, out_request_no: str | None = None, **extra: Any) -> requests.Response:
        params = dict(refund_amount=amount, out_trade_no=otn, refund_reason="test", **extra)
        if out_request_no:
            params["out_request_no"] = out_request_no
        return self.call("POST", "/refund", data=params)

    def sandbox_post(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.post(self.sandbox + path, timeout=10, **kwargs)

    def fault(self, method: str, kind: str, times: int = 1, delay_ms: int = 0) -> None:
        response = self.sandbox_post("/sandbox/faults", json={"method": method, "fault": kind, "times": times,
                                                               "delay_ms": delay_ms})
        assert response.status_code < 300, response.text

    def clear_faults(self, method: str | None = None) -> None:
        requests.delete(self.sandbox + "/sandbox/faults", params={"method": method} if method else None, timeout=10)

    def calls(self, otn: str | None = None, method: str | None = None) -> list[dict]:
        rows = requests.get(self.sandbox + "/sandbox/calls", timeout=10).json()
        if isinstance(rows, dict):
            rows = rows.get("calls", [])
        return [c for c in rows if (otn is None or c.get("out_trade_no") == otn)
                and (method is None or c.get("method") == method)]

    def gateway_trade(self, otn: str) -> dict:
        return requests.get(f"{self.sandbox}/sandbox/trades/{otn}", timeout=10).json()

    def logs(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")
