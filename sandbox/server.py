"""A threaded Werkzeug server that can drop connections the way a broken network does, and `serve()`, which
runs one in a background thread so tests and other programs can embed the sandbox.

A `reset` fault must look like a TCP RST to the client (ConnectionResetError 104) and never like an orderly
close, so the socket gets SO_LINGER {on, 0} and skips the usual shutdown(SHUT_WR), whose FIN would reach the
client first. A `lost_response` fault closes the connection normally without writing anything, which the
client sees as http.client.RemoteDisconnected.
"""

from __future__ import annotations

import socket
import struct
import threading
from typing import Any

from flask import Flask
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from sandbox.context import EXTENSION
from sandbox.faults import ConnectionFault, FaultKind


class SandboxRequestHandler(WSGIRequestHandler):
    server: SandboxServer

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        if not isinstance(error, ConnectionFault):
            return
        self.close_connection = True
        if error.kind is FaultKind.RESET:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.server.reset_on_close(self.connection)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.server.log_requests:
            super().log_request(code, size)


class SandboxServer(ThreadedWSGIServer):
    """ThreadedWSGIServer that closes marked connections with a reset instead of a FIN."""

    log_requests = False

    def __init__(self, host: str, port: int, app: Any, log_requests: bool = False) -> None:
        super().__init__(host, port, app, handler=SandboxRequestHandler)
        self.log_requests = log_requests
        self._resets: set[socket.socket] = set()
        self._resets_lock = threading.Lock()

    def reset_on_close(self, connection: socket.socket) -> None:
        with self._resets_lock:
            self._resets.add(connection)

    def shutdown_request(self, request: Any) -> None:
        with self._resets_lock:
            reset = request in self._resets
            self._resets.discard(request)
        if reset:
            self.close_request(request)
        else:
            super().shutdown_request(request)


class ServerHandle:
    """A running sandbox server: `.port`, `.url` (no trailing slash) and `.shutdown()`; also a context manager."""

    def __init__(self, server: SandboxServer, thread: threading.Thread, app: Flask) -> None:
        self.server = server
        self.thread = thread
        self.app = app

    @property
    def port(self) -> int:
        return int(self.server.port)

    @property
    def host(self) -> str:
        return str(self.server.host)

    @property
    def url(self) -> str:
        host = self.host if self.host not in ("0.0.0.0", "", "::") else "127.0.0.1"  # noqa: S104
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def shutdown(self) -> None:
        """Stop accepting, wait for the serving thread, and stop the app's background work."""
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.server.server_close()
        sandbox = self.app.extensions.get(EXTENSION)
        if sandbox is not None:
            sandbox.stop()

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def serve(app: Flask, host: str = "127.0.0.1", port: int = 0, *, log_requests: bool = False) -> ServerHandle:
    """Serve `app` from a daemon thread; port 0 picks a free port. Returns once the socket listens."""
    server = SandboxServer(host, port, app, log_requests=log_requests)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name=f"sandbox-server-{server.port}", daemon=True)
    thread.start()
    return ServerHandle(server, thread, app)
