"""Settings are checked at start-up; a bad one is named in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from worker.settings import ConfigError, Settings

ROOT = Path(__file__).resolve().parents[2]


def env_for(keys, **overrides: str) -> dict[str, str]:
    env = {
        "REDIS_URL": "redis://127.0.0.1:6399/0",
        "ALIPAY_APP_PRIVATE_KEY_FILE": str(keys.path("app_private_key.pem")),
        "ALIPAY_PUBLIC_KEY_FILE": str(keys.path("alipay_public_key.txt")),
    }
    env.update(overrides)
    return env


def test_defaults_follow_the_contract(keys) -> None:
    settings = Settings.from_env(env_for(keys))
    assert settings.broker_url == settings.redis_url
    assert settings.gateway_url == "http://127.0.0.1:10087/gateway.do"
    assert settings.notify_url == "http://127.0.0.1:10086/notify"
    assert settings.job_retention_s == 7 * 86400 and settings.order_retention_s == 0
    assert settings.api_keys == ()


def test_every_key_format_loads(keys) -> None:
    for name in ("alipay_public_key.pem", "alipay_public_key.txt"):
        Settings.from_env(env_for(keys, ALIPAY_PUBLIC_KEY_FILE=str(keys.path(name))))


@pytest.mark.parametrize(("variable", "value", "words"), [
    ("ALIPAY_APP_PRIVATE_KEY_FILE", "/no/such/key.pem", "cannot read"),
    ("ALIPAY_PUBLIC_KEY_FILE", "/no/such/key.pem", "cannot read"),
    ("REDIS_URL", "localhost:6379", "URL"),
    ("CELERY_BROKER_URL", "amqp://", "host"),
    ("ALIPAY_GATEWAY", "ftp://gw.example.com/gateway.do", "scheme"),
    ("ALIPAY_NOTIFY_URL", "http://example.com:port/notify", "port"),
    ("PORT", "http", "port"),
    ("POLL_INTERVALS_S", "2,x", "seconds"),
])
def test_a_bad_setting_is_named(keys, variable: str, value: str, words: str) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env(env_for(keys, **{variable: value}))
    assert error.value.variable == variable
    assert str(error.value).startswith(f"{variable}: ") and words in str(error.value)
    assert "\n" not in str(error.value)


def test_a_key_file_of_the_wrong_kind_is_named(keys) -> None:
    env = env_for(keys, ALIPAY_APP_PRIVATE_KEY_FILE=str(keys.path("app_public_key.pem")))
    with pytest.raises(ConfigError, match="^ALIPAY_APP_PRIVATE_KEY_FILE: "):
        Settings.from_env(env)


def test_the_launcher_stops_at_a_bad_key_with_one_line(keys, tmp_path) -> None:
    env = env_for(keys, ALIPAY_APP_PRIVATE_KEY_FILE=str(tmp_path / "missing.pem"),
                  ALIPAY_GATEWAY="http://127.0.0.1:1/gateway.do", PATH="/usr/bin:/bin")
    done = subprocess.run([sys.executable, "-m", "dev"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("run: ALIPAY_APP_PRIVATE_KEY_FILE: cannot read")
