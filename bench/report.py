"""Turning the phases' rounds into the summary: medians, ratios, a readable table and one JSON object."""

from __future__ import annotations

import json
import statistics
from typing import Any


def median(rounds: list[dict[str, Any]], path: str) -> float | None:
    """The median over rounds of a figure; `path` may reach into a nested dict with dots (`cpu.total`)."""
    values = []
    for item in rounds:
        value: Any = item
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, int | float):
            values.append(float(value))
    return statistics.median(values) if values else None


def medians(rounds: list[dict[str, Any]], paths: list[str], prefix: str) -> dict[str, float | None]:
    return {f"{prefix}_{path.replace('.', '_')}": median(rounds, path) for path in paths}


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    """Every figure as one flat-ish dict (nested only for per-process breakdowns and the waiting trades)."""
    summary: dict[str, Any] = dict(results.get("setup", {}))
    if "ours" in results:
        rounds = results["ours"]["rounds"]
        summary.update(medians(rounds, ["jobs_per_s", "p50_ms", "p90_ms", "p99_ms"], "ours"))
        summary["ours_cpu_ms_per_job"] = median(rounds, "cpu_ms_per_job.total")
        summary["ours_cpu_ms_per_job_by_process"] = {
            name: median(rounds, f"cpu_ms_per_job.{name}") for name in ("api", "worker", "beat", "redis")}
        summary["ours_sandbox_cpu_ms_per_job"] = median(rounds, "sandbox_cpu_ms_per_job")
        summary["ours_client_cpu_ms_per_job"] = median(rounds, "client_cpu_ms_per_job")
        summary["ours_jobs_per_round"] = median(rounds, "jobs")
        summary["ours_failed"] = sum(r["failed"] for r in rounds)
        summary["ours_redis_commands_per_job"] = results["ours"]["redis_commands_per_job"]
    if "noop" in results:
        rounds = results["noop"]
        summary["noop_tasks_per_s"] = median(rounds, "tasks_per_s")
        summary["noop_cpu_ms_per_task"] = median(rounds, "cpu_ms_per_task.total")
        summary["noop_cpu_ms_per_task_by_process"] = {
            name: median(rounds, f"cpu_ms_per_task.{name}") for name in ("publisher", "worker", "redis")}
    for design in ("sync", "gthread"):
        if design in results:
            rounds = results[design]
            summary.update(medians(rounds, ["requests_per_s", "p50_ms", "p90_ms", "p99_ms", "cpu_ms_per_request"],
                                   design))
            summary[f"{design}_failed"] = sum(r["failed"] for r in rounds)
        if f"slow_{design}" in results:
            summary.update(medians(results[f"slow_{design}"], ["requests_per_s", "p50_ms", "p99_ms"],
                                   f"slow_{design}"))
    if "slow_ours" in results:
        rounds = results["slow_ours"]
        summary.update(medians(rounds, ["accepted_per_s", "p50_ms", "p99_ms", "api_cpu_ms_per_submission"],
                               "slow_ours"))
        summary["slow_ours_rejected"] = sum(r["rejected"] for r in rounds)
        opened = [r["open"] for r in rounds if "open" in r]
        if opened:
            summary.update(medians(opened, ["offered_per_s", "accepted_per_s", "p50_ms", "p90_ms", "p99_ms",
                                            "api_cpu_ms_per_submission", "start_lag_p99_ms"], "slow_ours_open"))
            for name in ("scheduled", "rejected", "late"):
                summary[f"slow_ours_open_{name}"] = sum(r[name] for r in opened)
    if "waiting" in results:
        summary["waiting"] = results["waiting"]
    if "memory" in results:
        summary["memory"] = results["memory"]
    if "profile" in results:
        summary["profile"] = results["profile"]
    summary["ratio_vs_noop"] = _ratio(summary.get("ours_jobs_per_s"), summary.get("noop_tasks_per_s"))
    summary["cpu_ratio_vs_noop"] = _ratio(summary.get("noop_cpu_ms_per_task"), summary.get("ours_cpu_ms_per_job"))
    summary["ratio_vs_sync"] = _ratio(summary.get("ours_jobs_per_s"), summary.get("sync_requests_per_s"))
    summary["slow_accept_ratio"] = _ratio(summary.get("slow_ours_accepted_per_s"),
                                          summary.get("slow_sync_requests_per_s"))
    # Against the rate the open loop's offer was built on: this run's slow_sync median, else the sync ceiling.
    summary["slow_open_accept_ratio"] = _ratio(summary.get("slow_ours_open_accepted_per_s"),
                                               summary.get("slow_sync_basis_per_s"))
    summary["slow_floor_met"] = _slow_floor(summary)
    summary["ratio_vs_gthread"] = _ratio(summary.get("ours_jobs_per_s"), summary.get("gthread_requests_per_s"))
    summary["slow_accept_ratio_vs_gthread"] = _ratio(summary.get("slow_ours_accepted_per_s"),
                                                     summary.get("slow_gthread_requests_per_s"))
    summary["elapsed_s"] = results.get("elapsed_s")
    return _rounded(summary)


SLOW_FLOOR_RATIO = 5.0
SLOW_FLOOR_P99_MS = 50.0
"""The floor at a 1 s gateway: accept ≥ 5 × what the synchronous design serves, with a submit p99 ≤ 50 ms."""


def _slow_floor(summary: dict[str, Any]) -> bool | None:
    """Whether the slow-gateway floor is met, judged on the open loop (a latency at a stated offered load; the
    closed loop's p99 is queueing at saturation): ratio and p99 within the floor and no submission late."""
    ratio, p99 = summary.get("slow_open_accept_ratio"), summary.get("slow_ours_open_p99_ms")
    if ratio is None or p99 is None:
        return None
    return ratio >= SLOW_FLOOR_RATIO and p99 <= SLOW_FLOOR_P99_MS and summary.get("slow_ours_open_late") == 0


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3 if abs(value) < 100 else 1)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    else:
        text = str(value)
    return f"{text}{unit}"


def table(summary: dict[str, Any]) -> str:
    """The summary as a few aligned lines for a person."""
    s = summary
    lines = [f"alipay-worker benchmark ({'QUICK' if s.get('quick') else 'full'}; pool {s.get('pool')} x "
             f"{s.get('concurrency')}, {s.get('clients')} clients, {s.get('rounds')} rounds, medians)", ""]

    def row(name: str, *cells: str) -> None:
        lines.append(f"  {name:<34}" + "".join(f" {c:>16}" for c in cells))

    row("", "per second", "p50", "p90 / p99", "CPU ms/each")
    if "ours_jobs_per_s" in s:
        row(f"ours, gateway {s.get('gateway_ms')} ms (jobs)", _fmt(s["ours_jobs_per_s"]), _fmt(s["ours_p50_ms"], " ms"),
            f"{_fmt(s['ours_p90_ms'])} / {_fmt(s['ours_p99_ms'])} ms", _fmt(s["ours_cpu_ms_per_job"]))
    if "noop_tasks_per_s" in s:
        row("no-op Celery task (tasks)", _fmt(s["noop_tasks_per_s"]), "", "", _fmt(s["noop_cpu_ms_per_task"]))
    for design, label in (("sync", "sync Flask, sync workers"), ("gthread", "sync Flask, gthread")):
        if f"{design}_requests_per_s" in s:
            row(f"{label} (requests)", _fmt(s[f"{design}_requests_per_s"]), _fmt(s[f"{design}_p50_ms"], " ms"),
                f"{_fmt(s[f'{design}_p90_ms'])} / {_fmt(s[f'{design}_p99_ms'])} ms",
                _fmt(s[f"{design}_cpu_ms_per_request"]))
    if any(key.startswith("slow_") and key.endswith("_per_s") for key in s):
        lines += ["", f"  gateway {s.get('slow_gateway_ms')} ms:"]
    if "slow_ours_accepted_per_s" in s:
        row(f"ours, {s.get('clients')} clients (closed loop)", _fmt(s["slow_ours_accepted_per_s"]),
            _fmt(s["slow_ours_p50_ms"], " ms"), f"- / {_fmt(s['slow_ours_p99_ms'])} ms",
            _fmt(s["slow_ours_api_cpu_ms_per_submission"]))
    if "slow_ours_open_accepted_per_s" in s:
        row(f"ours, at {s['slow_ours_open_offered_per_s']:,.0f}/s offered (open loop)",
            _fmt(s["slow_ours_open_accepted_per_s"]), _fmt(s["slow_ours_open_p50_ms"], " ms"),
            f"{_fmt(s['slow_ours_open_p90_ms'])} / {_fmt(s['slow_ours_open_p99_ms'])} ms",
            _fmt(s["slow_ours_open_api_cpu_ms_per_submission"]))
    for design, label in (("sync", "sync Flask, sync workers"), ("gthread", "sync Flask, gthread")):
        if f"slow_{design}_requests_per_s" in s:
            row(f"{label}, served", _fmt(s[f"slow_{design}_requests_per_s"]), _fmt(s[f"slow_{design}_p50_ms"], " ms"),
                f"- / {_fmt(s[f'slow_{design}_p99_ms'])} ms", "")
    if "slow_ours_open_accepted_per_s" in s:
        lines += [f"  open loop: {s.get('slow_offered_factor'):g} x {_fmt(s.get('slow_sync_basis_per_s'))}/s, what the "
                  f"sync design serves ({s.get('slow_sync_basis')}); latency from each submission's scheduled start;",
                  f"    {s.get('slow_ours_open_scheduled')} scheduled, {s.get('slow_ours_open_late')} late (no client "
                  f"free within 1 s: not sent), {s.get('slow_ours_open_rejected')} rejected; load generator's start "
                  f"lag p99 {_fmt(s.get('slow_ours_open_start_lag_p99_ms'), ' ms')}"]
    if "ours_cpu_ms_per_job_by_process" in s:
        parts = ", ".join(f"{k} {_fmt(v)}" for k, v in s["ours_cpu_ms_per_job_by_process"].items())
        lines += ["", f"  ours CPU ms per job by process: {parts}",
                  f"  (not counted: sandbox {_fmt(s.get('ours_sandbox_cpu_ms_per_job'))}, "
                  f"load clients {_fmt(s.get('ours_client_cpu_ms_per_job'))})"]
        commands = s.get("ours_redis_commands_per_job") or {}
        lines.append("  Redis commands per job: " + ", ".join(f"{k} {v:g}" for k, v in list(commands.items())[:12]))
    if "noop_cpu_ms_per_task_by_process" in s:
        parts = ", ".join(f"{k} {_fmt(v)}" for k, v in s["noop_cpu_ms_per_task_by_process"].items())
        lines.append(f"  no-op CPU ms per task by process: {parts}")
    waiting = s.get("waiting")
    if waiting:
        cpu = waiting["cpu_ms_per_poll"]
        w = waiting
        lines += ["", f"  waiting trades: {w['trades']} for {w['seconds']:.0f} s: "
                      f"{_fmt(w['polls_per_s'])} polls/s (cadence asks {_fmt(w['cadence_demand_polls_per_s'])}), "
                      f"{w['trades_on_cadence']} trades on cadence "
                      f"({100 * w['on_cadence_fraction']:.0f} %), {w['duplicate_polls']} duplicate polls",
                  f"    CPU ms per poll: worker {_fmt(cpu['worker'])}, beat {_fmt(cpu['beat'])}, "
                  f"redis {_fmt(cpu['redis'])}; scheduler (beat + dispatch) {_fmt(w['scheduler_cpu_ms_per_poll'])}",
                  f"    worker RSS {_fmt(w['worker_rss_mb_start'])} MB -> {_fmt(w['worker_rss_mb_end'])} MB "
                  f"(second half: {w.get('worker_rss_mb_growth_second_half', 0):+.2f} MB), PSS "
                  f"{_fmt(w['worker_pss_mb_start'])} -> {_fmt(w['worker_pss_mb_end'])} MB ({w['worker_processes']} "
                  f"processes); gap lateness p50 "
                  f"{_fmt(waiting['gap_lateness_p50_s'])} s, p99 {_fmt(waiting['gap_lateness_p99_s'])} s; "
                  f"polls queue backlog {waiting['polls_queue_backlog_at_end']}"]
    mem = s.get("memory")
    if mem:
        lines += ["", f"  Redis bytes: job {_fmt(mem.get('bytes_per_job'))}, order {_fmt(mem.get('bytes_per_order'))}, "
                      f"identity {_fmt(mem.get('bytes_per_precreate_identity'))}, per precreate "
                      f"{_fmt(mem.get('bytes_per_precreate'))}; per waiting order (all keys) "
                      f"{_fmt(waiting.get('redis_bytes_per_waiting_order') if waiting else None)}"]
    ratios = ("ratio_vs_noop", "cpu_ratio_vs_noop", "ratio_vs_sync", "slow_accept_ratio", "slow_open_accept_ratio")
    lines += ["", "  " + ", ".join(f"{name} {_fmt(s.get(name))}" for name in ratios)]
    if s.get("slow_floor_met") is not None:
        verdict = "met" if s["slow_floor_met"] else "NOT met"
        lines.append(f"  floor at gateway {s.get('slow_gateway_ms')} ms, on the open loop (ratio >= "
                     f"{SLOW_FLOOR_RATIO:g}, p99 <= {SLOW_FLOOR_P99_MS:g} ms, none late): slow_open_accept_ratio "
                     f"{_fmt(s.get('slow_open_accept_ratio'))}, p99 {_fmt(s.get('slow_ours_open_p99_ms'), ' ms')}, "
                     f"{s.get('slow_ours_open_late')} late: {verdict}")
    return "\n".join(lines)


def dumps(summary: dict[str, Any]) -> str:
    return json.dumps(summary, ensure_ascii=False, separators=(",", ":"))
