"""`python -m sandbox [--host 127.0.0.1] [--port N]`: run the offline Alipay in the foreground.

Reads SANDBOX_PORT (default 10087), SANDBOX_APP_ID, SANDBOX_APP_PUBLIC_KEY_FILE, SANDBOX_PRIVATE_KEY_FILE,
SANDBOX_SELLER_ID, SANDBOX_PUBLIC_URL and SANDBOX_NOTIFY_URL. A bad setting exits with status 2 and one line
naming the variable. SIGINT or SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from sandbox import defaults
from sandbox.config import ConfigError, SandboxConfig


def _port(value: str, variable: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise ConfigError(variable, f"not a TCP port: {value!r}")
    return port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description="Offline Alipay OpenAPI gateway")
    parser.add_argument("--host", default=defaults.HOST, help=f"interface to bind (default {defaults.HOST})")
    parser.add_argument("--port", help=f"TCP port (default $SANDBOX_PORT or {defaults.PORT})")
    args = parser.parse_args(argv)
    try:
        port = (_port(args.port, "--port") if args.port is not None
                else _port(os.environ.get("SANDBOX_PORT") or str(defaults.PORT), "SANDBOX_PORT"))
        config = SandboxConfig.from_env()
    except ConfigError as exc:
        print(f"sandbox: {exc}", file=sys.stderr, flush=True)
        return 2

    from sandbox import create_app, serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    handle = serve(create_app(config), args.host, port, log_requests=True)
    print(f"sandbox: offline Alipay listening on {handle.url} (gateway {handle.url}/gateway.do, "
          f"app_id {config.app_id})", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    handle.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
