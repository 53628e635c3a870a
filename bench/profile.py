"""Where a job's CPU goes: one more round of `ours` with py-spy sampling the worker and the API (every process
of each tree), its samples sorted into a few kinds of work and scaled to CPU milliseconds per job.

Only threads holding the GIL are sampled, so time blocked on a socket (which releases it) is left out; the
shares are scaled to the CPU time measured from /proc in the same round. A sample counts
for the first of these that appears anywhere in its stack: RSA signing or verifying, logging, JSON, the HTTP
call to the gateway, the store's Redis round trips. Otherwise it counts for the innermost frame that belongs
to validation (pydantic), the web stack (Flask, Werkzeug, gunicorn), the job engine (Celery, kombu, billiard
and the Redis client under them) or the service's own code. The raw samples are kept under var/bench/ for a
flame graph.
"""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
from collections import Counter
from pathlib import Path
from typing import Any

from bench.load import closed_loop
from bench.phases import OURS, Plan, follow_job, run_tag
from bench.procs import CpuMeter
from bench.stack import BIN, ROOT, Stack

_SITE = sysconfig.get_paths()["purelib"] + "/"
_PLATSITE = sysconfig.get_paths()["platlib"] + "/"
_STDLIB = sysconfig.get_paths()["stdlib"] + "/"
_OWN = (f"{ROOT}/worker/", f"{ROOT}/api/")
RATE_HZ = 200

ANYWHERE = (
    ("RSA sign/verify", (f"{ROOT}/worker/alipay/signing.py", "cryptography/")),
    ("logging", (f"{_STDLIB}logging/",)),
    ("JSON", (f"{_STDLIB}json/",)),
    ("HTTP to the gateway", ("requests/", "urllib3/", f"{_STDLIB}http/client.py")),
    ("store: Redis round trips", (f"{ROOT}/worker/store.py",)),
)
INNERMOST = (
    ("validation (pydantic)", ("pydantic/", "pydantic_core/")),
    ("web: Flask, Werkzeug, gunicorn", ("flask/", "werkzeug/", "gunicorn/")),
    ("engine: Celery, kombu, broker Redis", ("celery/", "kombu/", "billiard/", "redis/", "vine/")),
    ("service code", _OWN),
)
OTHER = "other (interpreter, stdlib)"
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*)\)$")
_LINE = re.compile(r"(.*?) (\d+)\n", re.S)


def _package_path(file: str) -> str:
    """A frame's file with the site-packages prefix cut, so that patterns like `kombu/` match the package."""
    for prefix in (_SITE, _PLATSITE):
        if file.startswith(prefix):
            return file[len(prefix):]
    return file


def _matches(file: str, patterns: tuple[str, ...]) -> bool:
    short = _package_path(file)
    return any(short.startswith(p) or file.startswith(p) for p in patterns)


def categorise(frames: list[tuple[str, str]]) -> str:
    """The kind of work of one sample; `frames` are (function, file), outermost first."""
    for name, patterns in ANYWHERE:
        if any(_matches(file, patterns) for _, file in frames):
            return name
    for _, file in reversed(frames):
        for name, patterns in INNERMOST:
            if _matches(file, patterns):
                return name
    return OTHER


def read_raw(path: Path) -> list[tuple[list[tuple[str, str]], int]]:
    """py-spy's raw (collapsed) output: one stack per line, `frame;frame;... count`, a process frame first."""
    samples = []
    for match in _LINE.finditer(path.read_text(errors="replace") + "\n"):
        stack, count = match.group(1), int(match.group(2))
        frames = []
        for part in stack.split(";"):
            frame = _FRAME.match(part.strip())
            if frame:
                frames.append((frame.group("function"), frame.group("file")))
        samples.append((frames, count))
    return samples


def breakdown(samples: list[tuple[list[tuple[str, str]], int]], cpu_ms_per_job: float,
              top: int = 12) -> dict[str, Any]:
    """Shares of the samples by kind of work, scaled to CPU ms per job, and the service's functions that
    hold the most samples (inclusive)."""
    total = sum(count for _, count in samples) or 1
    kinds: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    for frames, count in samples:
        kinds[categorise(frames)] += count
        own = {f"{function} ({Path(file).relative_to(ROOT)})" for function, file in frames if file.startswith(_OWN)}
        for name in own:
            functions[name] += count
    return {
        "samples": total,
        "ms_per_job": {k: round(v / total * cpu_ms_per_job, 2) for k, v in kinds.most_common()},
        "share": {k: round(v / total, 3) for k, v in kinds.most_common()},
        "own_functions_inclusive_share": {k: round(v / total, 3) for k, v in functions.most_common(top)},
    }


def profile_ours(stack: Stack, plan: Plan, out_dir: Path) -> dict[str, Any]:
    """One round of `ours` at the normal gateway delay while py-spy records the worker and the API trees."""
    from worker.store import Keys

    out_dir.mkdir(parents=True, exist_ok=True)
    client = stack.redis()
    seconds = max(plan.job_seconds, 10.0)
    spies = {}
    for name in ("worker", "api"):
        output = out_dir / f"profile-{name}.txt"
        spies[name] = (output, subprocess.Popen(  # noqa: S603 - our own py-spy on our own processes
            [str(BIN / "py-spy"), "record", "--pid", str(stack.pid(name)), "--subprocesses", "--nonblocking", "--gil",
             "--full-filenames", "--nolineno", "--rate", str(RATE_HZ), "--format", "raw", "--output", str(output),
             "--duration", str(int(seconds) + 1)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    meter = CpuMeter({name: stack.pid(name) for name in OURS}).start()
    result = closed_loop(stack.api, plan.clients, seconds,
                         follow_job(f"BF{run_tag()}", lambda otn: client.zrem(Keys.poll_due, otn)))
    used = meter.stop()
    jobs = max(len(result.ok), 1)
    figures: dict[str, Any] = {"jobs": len(result.ok), "jobs_per_s_under_profiler": round(result.rate(), 1)}
    for name, (output, spy) in spies.items():
        _, errors = spy.communicate(timeout=seconds + 60)
        if spy.returncode != 0 or not output.exists():
            figures[name] = {"error": errors.decode(errors="replace").strip()[-300:]}
            continue
        figures[name] = breakdown(read_raw(output), used[name] / jobs)
        figures[name]["cpu_ms_per_job"] = round(used[name] / jobs, 2)
        figures[name]["raw"] = str(output.relative_to(ROOT))
    print(render(figures), file=sys.stderr, flush=True)
    return figures


def render(figures: dict[str, Any]) -> str:
    lines = [f"profile: {figures['jobs']} jobs under py-spy ({figures['jobs_per_s_under_profiler']} jobs/s)"]
    for name in ("worker", "api"):
        part = figures.get(name, {})
        if "error" in part:
            lines.append(f"  {name}: py-spy failed: {part['error']}")
            continue
        lines.append(f"  {name}: {part.get('cpu_ms_per_job')} CPU ms per job, {part.get('samples')} samples")
        for kind, ms in part.get("ms_per_job", {}).items():
            lines.append(f"    {kind:<40}{ms:>7.2f} ms  {100 * part['share'][kind]:5.1f} %")
        lines.append("    own functions (inclusive share of samples):")
        for function, share in part.get("own_functions_inclusive_share", {}).items():
            lines.append(f"      {100 * share:5.1f} %  {function}")
    return "\n".join(lines)
