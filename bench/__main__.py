"""`make bench` (`python -m bench [--quick]`): measure the service against its engine and against the design
it replaces, on this machine, and print a table and, as the last line, one JSON object with every figure.

Starts everything it measures (Redis, the sandbox, the API, the worker and beat, the baselines) in a temporary
directory and stops it all at the end, also on Ctrl-C. Progress goes to stderr; the summary to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import sys
import time
from typing import Any, NoReturn

from bench import phases
from bench.report import dumps, summarise, table
from bench.stack import ROOT, Stack

PHASES = ("noop", "sync", "gthread", "ours", "slow", "waiting", "memory")


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _terminate(*_: object) -> NoReturn:
    raise KeyboardInterrupt


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short rounds and 1,000 waiting trades (< 3 min)")
    parser.add_argument("--phases", default=",".join(PHASES),
                        help=f"comma-separated subset of {', '.join(PHASES)} (default: all)")
    parser.add_argument("--pool", choices=("prefork", "threads", "gevent", "solo"),
                        help="Celery pool of the worker and of the no-op baseline (default: WORKER_POOL, as in "
                             "production)")
    parser.add_argument("--concurrency", type=int, help="worker concurrency (default: WORKER_CONCURRENCY)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent load clients (default: 32)")
    parser.add_argument("--profile", action="store_true",
                        help="add a round of ours under py-spy and print where the CPU goes (not in the figures)")
    parser.add_argument("--keep", action="store_true", help="keep the run's directory (logs) after the run")
    args = parser.parse_args(argv)
    if args.pool is None:
        from worker.defaults import WORKER_POOL

        args.pool = os.environ.get("WORKER_POOL") or WORKER_POOL
    unknown = set(args.phases.split(",")) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    return args


def _slow_sync_rate(results: dict[str, Any], concurrency: int, slow_gateway_ms: int) -> tuple[float, str]:
    """What the synchronous design serves per second at the slow gateway: the median of this run's `slow_sync`
    rounds, or, without them, its ceiling (each of its `concurrency` workers serves one call at a time)."""
    rates = [r["requests_per_s"] for r in results.get("slow_sync", []) if r.get("requests_per_s")]
    if rates:
        return statistics.median(rates), "measured slow_sync"
    return concurrency * 1000 / slow_gateway_ms, f"ceiling, {concurrency} sync workers"


def run(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    from worker.defaults import WORKER_CONCURRENCY

    wanted = set(args.phases.split(","))
    plan = phases.Plan.make(args.quick, args.clients)
    concurrency = args.concurrency or int(os.environ.get("WORKER_CONCURRENCY") or WORKER_CONCURRENCY)
    web_workers, web_threads = int(os.environ.get("WEB_CONCURRENCY") or 2), int(os.environ.get("WEB_THREADS") or 64)
    results: dict[str, Any] = {"setup": {
        "quick": plan.quick, "pool": args.pool, "concurrency": concurrency, "clients": plan.clients,
        "rounds": plan.rounds, "gateway_ms": plan.gateway_ms, "slow_gateway_ms": plan.slow_gateway_ms,
        "round_seconds": plan.job_seconds, "slow_round_seconds": plan.slow_seconds,
        "sync_shape": f"{concurrency} sync workers", "gthread_shape": f"{web_workers} x {web_threads} threads",
        "cpus": os.cpu_count(), "loadavg_at_start": round(os.getloadavg()[0], 2)}}

    progress(f"Redis and the sandbox (gateway delay {plan.gateway_ms} ms), in {stack.dir}")
    stack.start_redis()
    stack.start_sandbox()
    phases.set_gateway_delay(stack, plan.gateway_ms)

    # With `ours` in the run, the no-op rounds alternate with its rounds (below): the machine's state drifts
    # over minutes, and a ratio of two figures taken minutes apart would carry the drift.
    alternate = "noop" in wanted and "ours" in wanted
    if "noop" in wanted and not alternate:
        progress(f"no-op Celery tasks: {plan.rounds} rounds of {plan.noop_tasks}")
        results["noop"] = phases.noop_rounds(stack, plan)
    for design, worker_class, workers, threads in (("sync", "sync", concurrency, 1),
                                                   ("gthread", "gthread", web_workers, web_threads)):
        if design not in wanted:
            continue
        progress(f"synchronous Flask app, {worker_class} workers: {workers} x {threads}")
        stack.start_sync_app(worker_class, workers, threads)
        results[design] = phases.sync_rounds(stack, plan, plan.gateway_ms, plan.job_seconds)
        phases.set_gateway_delay(stack, plan.slow_gateway_ms)
        results[f"slow_{design}"] = phases.sync_rounds(stack, plan, plan.slow_gateway_ms, plan.slow_seconds)
        phases.set_gateway_delay(stack, plan.gateway_ms)
        stack.stop("sync", quick=True)

    if wanted & {"ours", "slow", "waiting", "memory"} or args.profile:
        progress(f"the service: API, worker ({args.pool} x {concurrency}) and beat")
        stack.start_api()
        stack.start_worker()
        stack.start_beat()
        if alternate:
            progress(f"ours: {plan.rounds} rounds of {plan.job_seconds:g} s, {plan.clients} clients, each after "
                     f"a round of {plan.noop_tasks} no-op Celery tasks")
            phases.start_noop(stack, plan)
            noop: list[dict[str, Any]] = []
            try:
                results["ours"] = phases.ours_rounds(stack, plan, lambda: noop.append(phases.noop_round(stack, plan)))
            finally:
                phases.stop_noop(stack)
            results["noop"] = noop
        elif "ours" in wanted:
            progress(f"ours: {plan.rounds} rounds of {plan.job_seconds:g} s, {plan.clients} clients")
            results["ours"] = phases.ours_rounds(stack, plan)
        if args.profile:
            from bench.profile import profile_ours

            progress("ours under py-spy")
            results["profile"] = profile_ours(stack, plan, ROOT / "var" / "bench")
        if "slow" in wanted:
            sync_per_s, basis = _slow_sync_rate(results, concurrency, plan.slow_gateway_ms)
            results["setup"].update(slow_sync_basis_per_s=sync_per_s, slow_sync_basis=basis,
                                    slow_offered_factor=plan.slow_offered_factor)
            progress(f"slow gateway ({plan.slow_gateway_ms} ms): ours accepting submissions, {plan.clients} clients "
                     f"closed loop, then {plan.slow_offered_factor:g} x {sync_per_s:.1f}/s ({basis}) open loop")
            phases.set_gateway_delay(stack, plan.slow_gateway_ms)
            results["slow_ours"] = phases.ours_slow_rounds(stack, plan, sync_per_s)
            phases.set_gateway_delay(stack, plan.gateway_ms)
        if "waiting" in wanted:
            progress(f"waiting trades: {plan.waiting_trades} for {plan.waiting_seconds:g} s")
            results["waiting"] = phases.waiting_trades(stack, plan)
        if "memory" in wanted:
            results["memory"] = phases.memory(stack)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    stack = Stack(pool=args.pool, concurrency=args.concurrency)
    # The benchmark is itself a client of the stack (store, Celery publisher): same settings as the service.
    os.environ.update(stack.env)
    failed = True
    try:
        results = run(args, stack)
        failed = False
    except KeyboardInterrupt:
        progress("interrupted; stopping everything")
        return 130
    finally:
        stack.close()
        if args.keep or failed:
            progress(f"logs kept in {stack.dir}")
        else:
            shutil.rmtree(stack.dir, ignore_errors=True)
    results["elapsed_s"] = time.monotonic() - started
    summary = summarise(results)
    out = ROOT / "var" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(results, indent=1, default=str))
    print(table(summary), flush=True)
    print(dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
