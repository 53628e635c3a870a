"""CPU time and resident memory of process trees, read from /proc (Linux only).

A tree is a process and all its live descendants (gunicorn's workers, Celery's pool children, a Redis
rewrite child). Its CPU time is each live member's utime + stime plus the cutime + cstime of every member,
which holds the time of the children it has already reaped, so a pool child that came and went is counted
once, by its parent.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

TICK_MS = 1000.0 / os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Stat:
    pid: int
    ppid: int
    cpu_ticks: int
    """utime + stime + cutime + cstime."""
    rss_bytes: int


def read_stat(pid: int) -> Stat | None:
    """One process's /proc/<pid>/stat, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read().decode(errors="replace")
    except OSError:
        return None
    # The command name may hold spaces and parentheses: the fields start after the last ')'.
    fields = raw[raw.rindex(")") + 2:].split()
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return Stat(pid, ppid, utime + stime + cutime + cstime, int(fields[21]) * PAGE_BYTES)


def all_stats() -> dict[int, Stat]:
    stats: dict[int, Stat] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = read_stat(int(name))
            if stat is not None:
                stats[stat.pid] = stat
    return stats


def tree(root: int, stats: dict[int, Stat]) -> list[Stat]:
    """`root` and its live descendants."""
    children: dict[int, list[int]] = defaultdict(list)
    for stat in stats.values():
        children[stat.ppid].append(stat.pid)
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        if pid in stats:
            found.append(stats[pid])
            stack.extend(children.get(pid, ()))
    return found


def cpu_ms(roots: dict[str, int]) -> dict[str, float]:
    """CPU milliseconds used so far by each named tree (`roots`: name -> root pid)."""
    stats = all_stats()
    return {name: sum(s.cpu_ticks for s in tree(pid, stats)) * TICK_MS for name, pid in roots.items()}


def _pss_bytes(pid: int) -> int:
    """Proportional set size: resident memory with pages shared by n processes counted 1/n in each."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass(frozen=True)
class Memory:
    rss_bytes: int
    """Sum of RSS over the tree (pages shared after fork counted in every process)."""
    pss_bytes: int
    """Sum of PSS over the tree: what the tree really holds."""
    largest_rss_bytes: int
    processes: int


def tree_memory(root: int) -> Memory:
    """Resident memory of the tree under `root`."""
    members = tree(root, all_stats())
    sizes = [s.rss_bytes for s in members] or [0]
    return Memory(sum(sizes), sum(_pss_bytes(s.pid) for s in members), max(sizes), len(members))


class CpuMeter:
    """CPU used by named trees between `start()` and `stop()`, in milliseconds."""

    def __init__(self, roots: dict[str, int]) -> None:
        self.roots = dict(roots)
        self._before: dict[str, float] = {}
        self._self_before = 0.0

    def start(self) -> CpuMeter:
        self._before = cpu_ms(self.roots)
        self._self_before = _self_cpu_ms()
        return self

    def stop(self) -> dict[str, float]:
        after = cpu_ms(self.roots)
        used = {name: after[name] - self._before.get(name, 0.0) for name in self.roots}
        used["load_client"] = _self_cpu_ms() - self._self_before
        return used


def _self_cpu_ms() -> float:
    times = os.times()
    return (times.user + times.system) * 1000.0


def total(used: dict[str, float], names: Iterable[str]) -> float:
    return sum(used.get(name, 0.0) for name in names)
