"""`make run`'s launcher: everything up and ready, where each part listens printed, nothing left after SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port
from tests.integration.stack import ROOT, eventually

pytestmark = pytest.mark.redis_broker


def processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_run_starts_everything_and_sigterm_stops_everything(tmp_path) -> None:
    marker = f"LAUNCHER_TEST_{uuid.uuid4().hex}"
    port, sandbox_port, redis_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ALIPAY_", "SANDBOX_", "REDIS_", "CELERY_", "API_KEYS"))}
    env.update(PORT=str(port), SANDBOX_PORT=str(sandbox_port), EMBEDDED_REDIS_PORT=str(redis_port),
               WEB_CONCURRENCY="1", WORKER_CONCURRENCY="2", **{marker: "1"})
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        launcher = subprocess.Popen([sys.executable, "-m", "dev"], cwd=ROOT, env=env, stdout=out,
                                    stderr=subprocess.STDOUT)
    try:
        def ready() -> bool:
            assert launcher.poll() is None, log.read_text()[-3000:]
            try:
                return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=3).status_code == 200
            except requests.RequestException:
                return False

        eventually(ready, timeout=120, interval=0.5, message="/readyz 200")
        text = log.read_text()
        assert f"run: redis    redis://127.0.0.1:{redis_port}/0" in text
        assert f"run: sandbox  http://127.0.0.1:{sandbox_port}/gateway.do" in text
        assert f"run: api      http://127.0.0.1:{port}" in text
        assert len(processes_with(marker)) >= 5  # launcher, redis, sandbox, gunicorn, worker, beat
    finally:
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(60)
    eventually(lambda: not processes_with(marker), timeout=30, message="every process gone")
    assert launcher.returncode == 0
