"""The processes a benchmark run starts and stops: its own Redis, the sandbox, the API under gunicorn, the
Celery worker and beat (the same commands as `make run`), and the baselines (the no-op Celery worker, the
synchronous Flask app). Everything lives in one temporary directory and is stopped when the run ends."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from dev.keys import ensure_dev_keys, ensure_webhook_secret
from dev.process import die_with_parent
from dev.redis import start_redis
from worker.settings import DEV_APP_ID

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout: float, what: str, proc: subprocess.Popen[bytes] | None = None,
               interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {proc.returncode}")
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise RuntimeError(f"{what} not reached within {timeout:g}s")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - loopback URL we built
            return bool(answer.status == 200)
    except OSError:
        return False


class Stack:
    """Starts and stops the benchmark's processes; `env` is what every service process gets."""

    def __init__(self, pool: str = "prefork", concurrency: int | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="alipay-bench-"))
        self.pool = pool
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.redis_port = free_port()
        self.sandbox_port = free_port()
        self.api_port = free_port()
        self.sync_port = free_port()
        keys = ensure_dev_keys(self.dir / "keys")
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("ALIPAY_", "SANDBOX_", "WORKER_", "WEB_", "POLL_", "REDIS_", "CELERY_",
                                              "PROMETHEUS_"))}
        self.env.update(
            PYTHONUNBUFFERED="1", PORT=str(self.api_port), SANDBOX_PORT=str(self.sandbox_port),
            REDIS_URL=self.redis_url, CELERY_BROKER_URL=self.redis_url,
            ALIPAY_GATEWAY=f"{self.sandbox}/gateway.do", ALIPAY_APP_ID=DEV_APP_ID,
            ALIPAY_APP_PRIVATE_KEY_FILE=str(keys / "app_private_key.pem"),
            ALIPAY_PUBLIC_KEY_FILE=str(keys / "alipay_public_key.pem"),
            ALIPAY_NOTIFY_URL=f"{self.api}/notify", WEBHOOK_SECRET=ensure_webhook_secret(keys),
            SANDBOX_APP_ID=DEV_APP_ID, SANDBOX_APP_PUBLIC_KEY_FILE=str(keys / "app_public_key.pem"),
            SANDBOX_PRIVATE_KEY_FILE=str(keys / "alipay_private_key.pem"),
        )
        self.env.pop("API_KEYS", None)
        # As `make run` does: one fresh directory for the metrics of every process of the run.
        self.env["PROMETHEUS_MULTIPROC_DIR"] = str(self.dir / "metrics")
        if concurrency is not None:
            self.env["WORKER_CONCURRENCY"] = str(concurrency)

    # --- addresses ----------------------------------------------------------------------------------------

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def sandbox(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def redis(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.redis_port)

    def pid(self, name: str) -> int:
        return self.procs[name].pid

    # --- processes ----------------------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.dir / f"{name}.log", "ab")  # noqa: SIM115 - kept by the child
        proc = subprocess.Popen(argv, cwd=ROOT, env=env or self.env, stdout=log, stderr=subprocess.STDOUT,  # noqa: S603
                                preexec_fn=die_with_parent)  # noqa: PLW1509 - only setsid and prctl
        log.close()
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        path = self.dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start_redis(self) -> None:
        proc = start_redis(self.redis_port, self.dir / "redis", log=self.dir / "redis.log",
                           preexec_fn=die_with_parent)
        self.procs["redis"] = proc

    def start_sandbox(self) -> None:
        proc = self._spawn("sandbox", [str(BIN / "python"), "-m", "sandbox", "--port", str(self.sandbox_port)])
        wait_until(lambda: http_ok(f"{self.sandbox}/healthz"), 30, "sandbox up", proc)

    def start_api(self) -> None:
        proc = self._spawn("api", [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"),
                                   "--bind", f"127.0.0.1:{self.api_port}", "api:create_app()"])
        wait_until(lambda: http_ok(f"{self.api}/healthz"), 60, "api up", proc)

    def _celery_worker(self, name: str, app: str, extra: list[str], env: dict[str, str]) -> None:
        argv = [str(BIN / "celery"), "-A", app, "worker", "--loglevel", "INFO", "--hostname", f"{name}@%h",
                "--pool", self.pool, *extra]
        if "WORKER_CONCURRENCY" in env:
            argv += ["--concurrency", env["WORKER_CONCURRENCY"]]
        proc = self._spawn(name, argv, env)
        wait_until(lambda: " ready." in self.log(name), 60, f"{name} ready", proc, 0.2)

    def start_worker(self, **env: str) -> None:
        """The service's worker, as `make run` starts it (production settings but for `env`)."""
        self._celery_worker("worker", "worker.celery_app", [], {**self.env, **env})

    def start_beat(self, **env: str) -> None:
        schedule = self.dir / "celerybeat-schedule"
        for stale in self.dir.glob("celerybeat-schedule*"):
            stale.unlink()
        proc = self._spawn("beat", [str(BIN / "celery"), "-A", "worker.celery_app", "beat", "--loglevel", "INFO",
                                    "--schedule", str(schedule)], {**self.env, **env})
        wait_until(lambda: "beat: Starting" in self.log("beat"), 60, "beat started", proc, 0.2)

    def start_noop_worker(self) -> None:
        from bench.noop_app import QUEUE

        self._celery_worker("noop", "bench.noop_app", ["--queues", QUEUE], dict(self.env))

    def start_sync_app(self, worker_class: str, workers: int, threads: int) -> None:
        """The synchronous baseline under gunicorn, with the API's gunicorn settings but for the worker shape."""
        proc = self._spawn("sync", [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"),
                                    "--bind", f"127.0.0.1:{self.sync_port}", "--worker-class", worker_class,
                                    "--workers", str(workers), "--threads", str(threads),
                                    "bench.sync_app:create_app()"],
                           {**self.env, "BENCH_SYNC_POOL": str(max(threads, 1))})
        wait_until(lambda: http_ok(f"http://127.0.0.1:{self.sync_port}/healthz"), 60, "sync app up", proc)

    def stop(self, *names: str, quick: bool = False) -> None:
        """Stop the named processes (all when none is named), newest first: SIGTERM (SIGQUIT with `quick`:
        gunicorn's immediate shutdown, which spares the 32 sync workers of a baseline their graceful exit of
        several seconds), then SIGKILL."""
        for name in reversed(list(names or self.procs)):
            proc = self.procs.pop(name, None)
            if proc is None:
                continue
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGQUIT if quick else signal.SIGTERM)
                except ProcessLookupError:
                    pass
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def close(self) -> None:
        self.stop()
