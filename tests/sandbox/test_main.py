"""`python -m sandbox` as a command."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from worker.alipay.signing import bare_public, pem_private

ROOT = Path(__file__).resolve().parents[2]


def run_env(tmp_path: Path, **env: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")}
    return {**base, "PYTHONPATH": str(ROOT), **env}


@pytest.mark.parametrize("variable", ["SANDBOX_APP_PUBLIC_KEY_FILE", "SANDBOX_PRIVATE_KEY_FILE"])
def test_a_missing_key_file_stops_start_up_naming_the_variable(tmp_path, app_key, alipay_key, variable):
    public = tmp_path / "app_public.txt"
    public.write_text(bare_public(app_key.public_key()))
    private = tmp_path / "alipay_private.pem"
    private.write_text(pem_private(alipay_key, pkcs8=False))
    env = run_env(tmp_path, SANDBOX_APP_PUBLIC_KEY_FILE=str(public), SANDBOX_PRIVATE_KEY_FILE=str(private))
    env[variable] = str(tmp_path / "missing.pem")
    done = subprocess.run([sys.executable, "-m", "sandbox", "--port", "0"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0], done.stderr


def test_a_key_of_the_wrong_kind_is_refused(tmp_path, alipay_key):
    private = tmp_path / "alipay_private.pem"
    private.write_text(pem_private(alipay_key))
    env = run_env(tmp_path, SANDBOX_APP_PUBLIC_KEY_FILE=str(private), SANDBOX_PRIVATE_KEY_FILE=str(private))
    done = subprocess.run([sys.executable, "-m", "sandbox"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode != 0 and "SANDBOX_APP_PUBLIC_KEY_FILE" in done.stderr


def test_it_starts_says_where_and_stops_on_sigterm(tmp_path, app_key, alipay_key):
    public = tmp_path / "app_public.txt"
    public.write_text(bare_public(app_key.public_key()))
    private = tmp_path / "alipay_private.pem"
    private.write_text(pem_private(alipay_key, pkcs8=False))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = run_env(tmp_path, SANDBOX_APP_PUBLIC_KEY_FILE=str(public), SANDBOX_PRIVATE_KEY_FILE=str(private),
                  SANDBOX_PORT=str(port), SANDBOX_APP_ID="2021000000000042")
    proc = subprocess.Popen([sys.executable, "-m", "sandbox"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in line and "2021000000000042" in line
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
