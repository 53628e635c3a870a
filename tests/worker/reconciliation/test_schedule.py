"""Reconciliation's settings and its place in beat's schedule (celeryconfig, read in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import time
from pathlib import Path

import pytest

from worker.settings import ConfigError, Settings

ROOT = Path(__file__).resolve().parents[3]

SHOW_SCHEDULE = """
import json, celeryconfig
print(json.dumps({"schedule": {name: [entry["task"], entry["schedule"]] for name, entry
                               in celeryconfig.beat_schedule.items()},
                  "routes": {name: celeryconfig.task_routes[name]["queue"]
                             for name in ("alipay.reconcile_sweep", "alipay.reconcile_bill")}}))
"""


def env_for(keys, **overrides: str) -> dict[str, str]:
    return {"ALIPAY_APP_PRIVATE_KEY_FILE": str(keys.path("app_private_key.pem")),
            "ALIPAY_PUBLIC_KEY_FILE": str(keys.path("alipay_public_key.txt")), **overrides}


def test_defaults_and_overrides(keys) -> None:
    settings = Settings.from_env(env_for(keys))
    assert (settings.reconcile_sweep_s, settings.reconcile_after_s, settings.reconcile_batch) == (60, 300, 200)
    assert settings.reconcile_at == time(10, 0)
    tuned = Settings.from_env(env_for(keys, RECONCILE_SWEEP_S="15", RECONCILE_AT="9:30", RECONCILE_BATCH="50"))
    assert (tuned.reconcile_sweep_s, tuned.reconcile_at, tuned.reconcile_batch) == (15, time(9, 30), 50)


@pytest.mark.parametrize(("variable", "value"), [("RECONCILE_AT", "25:00"), ("RECONCILE_AT", "10h"),
                                                 ("RECONCILE_SWEEP_S", "0"), ("RECONCILE_BATCH", "many")])
def test_a_bad_setting_is_named(keys, variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env(env_for(keys, **{variable: value}))
    assert error.value.variable == variable


def test_beat_runs_the_sweep_and_the_daily_tick(keys) -> None:
    env = env_for(keys, RECONCILE_SWEEP_S="15", PATH="/usr/bin:/bin")
    done = subprocess.run([sys.executable, "-c", SHOW_SCHEDULE], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60, check=True)
    shown = json.loads(done.stdout.strip().splitlines()[-1])
    assert shown["schedule"]["reconcile-sweep"] == ["alipay.reconcile_sweep", 15.0]
    assert shown["schedule"]["reconcile-daily-bill"] == ["alipay.reconcile_bill", 60.0]
    assert shown["routes"] == {"alipay.reconcile_sweep": "polls", "alipay.reconcile_bill": "polls"}
