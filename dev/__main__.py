"""`make run`: start the whole service in the foreground, with embedded defaults for what is not configured.

Redis (when REDIS_URL is unset) and the offline sandbox (when ALIPAY_GATEWAY is unset) are started here; the
API, one Celery worker and Celery beat always are. SIGINT or SIGTERM stops every process started, and so does
the death of any one of them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from dev.keys import ensure_dev_keys, ensure_webhook_secret
from dev.process import die_with_parent
from dev.redis import DEFAULT_PORT as REDIS_PORT
from dev.redis import redis_command, wait_for_redis
from worker.settings import DEV_APP_ID, ROOT, VAR, ConfigError, Settings

BIN = Path(sys.executable).parent
class Launcher:
    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.stopping = False

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, preexec_fn=die_with_parent)  # noqa: PLW1509
        self.procs.append((name, proc))
        return proc

    def stop(self, *_: object) -> None:
        if self.stopping:
            return
        self.stopping = True
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 15
        for _name, proc in reversed(self.procs):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def watch(self) -> int:
        """Block until a signal arrives or a process dies; returns the exit status for `make run`."""
        while not self.stopping:
            for name, proc in self.procs:
                if proc.poll() is not None:
                    print(f"run: {name} exited with {proc.returncode}; stopping everything", flush=True)
                    self.stop()
                    return 1
            time.sleep(0.2)
        return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, under another user
    return True


def fresh_metrics_dir(base: Path) -> Path:
    """An empty PROMETHEUS_MULTIPROC_DIR for this run, `base/<launcher pid>`, shared by the API, the worker and
    their children; the directories of earlier runs that are gone are removed."""
    base.mkdir(parents=True, exist_ok=True)
    for old in base.iterdir():
        if old.name.isdigit() and not _alive(int(old.name)):
            shutil.rmtree(old, ignore_errors=True)
    fresh = base / str(os.getpid())
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir()
    return fresh


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} did not start (exit {proc.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - loopback URL we built
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:g}s")


def main() -> int:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("ACCESS_LOG", "1")
    if not env.get("PROMETHEUS_MULTIPROC_DIR"):
        env["PROMETHEUS_MULTIPROC_DIR"] = str(fresh_metrics_dir(VAR / "metrics"))
    keys = ensure_dev_keys(VAR / "keys")
    port = env.setdefault("PORT", "10086")
    sandbox_port = env.setdefault("SANDBOX_PORT", "10087")
    env.setdefault("ALIPAY_APP_ID", DEV_APP_ID)
    env.setdefault("ALIPAY_APP_PRIVATE_KEY_FILE", str(keys / "app_private_key.pem"))
    env.setdefault("ALIPAY_PUBLIC_KEY_FILE", str(keys / "alipay_public_key.pem"))
    if not env.get("WEBHOOK_SECRET"):
        env["WEBHOOK_SECRET"] = ensure_webhook_secret(keys)
    embedded_redis = not env.get("REDIS_URL")
    if embedded_redis:
        redis_port = int(env.get("EMBEDDED_REDIS_PORT") or REDIS_PORT)
        env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    embedded_sandbox = not env.get("ALIPAY_GATEWAY")
    if embedded_sandbox:
        env["ALIPAY_GATEWAY"] = f"http://127.0.0.1:{sandbox_port}/gateway.do"
        env.setdefault("SANDBOX_APP_ID", env["ALIPAY_APP_ID"])
        env.setdefault("SANDBOX_APP_PUBLIC_KEY_FILE", str(keys / "app_public_key.pem"))
        env.setdefault("SANDBOX_PRIVATE_KEY_FILE", str(keys / "alipay_private_key.pem"))
    try:
        settings = Settings.from_env(env)
    except ConfigError as exc:
        print(f"run: {exc}", file=sys.stderr, flush=True)
        return 2

    launcher = Launcher()
    signal.signal(signal.SIGINT, launcher.stop)
    signal.signal(signal.SIGTERM, launcher.stop)
    try:
        if embedded_redis:
            proc = launcher.start("redis", redis_command(redis_port, VAR / "redis"), env)
            wait_for_redis(redis_port, proc)
            print(f"run: redis    {settings.redis_url}  (embedded, AOF in var/redis/)", flush=True)
        else:
            print(f"run: redis    {settings.redis_url}", flush=True)
        if embedded_sandbox:
            proc = launcher.start("sandbox", [str(BIN / "python"), "-m", "sandbox", "--port", sandbox_port], env)
            _wait_http(f"http://127.0.0.1:{sandbox_port}/healthz", proc)
            print(f"run: sandbox  http://127.0.0.1:{sandbox_port}/gateway.do  (offline Alipay)", flush=True)
        else:
            print(f"run: gateway  {settings.gateway_url}", flush=True)
        web = launcher.start("web", [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"),
                                     "--bind", f"127.0.0.1:{port}", "api:create_app()"], env)
        launcher.start("worker", [str(BIN / "celery"), "-A", "worker.celery_app", "worker", "--loglevel", "INFO",
                                  "--hostname", "worker@%h"], env)
        launcher.start("beat", [str(BIN / "celery"), "-A", "worker.celery_app", "beat", "--loglevel", "INFO",
                                "--schedule", str(VAR / "celerybeat-schedule")], env)
        _wait_http(f"http://127.0.0.1:{port}/healthz", web)
        print(f"run: api      http://127.0.0.1:{port}  (worker and beat started)", flush=True)
    except (RuntimeError, OSError) as exc:
        print(f"run: {exc}; stopping everything", file=sys.stderr, flush=True)
        launcher.stop()
        return 1
    status = launcher.watch()
    launcher.stop()
    return status


if __name__ == "__main__":
    raise SystemExit(main())
