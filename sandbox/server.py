"""A threaded Werkzeug server that keeps connections alive as Alipay's gateway does and can drop them the way a
broken network does, and `serve()`, which runs one in a background thread so tests and other programs can embed
the sandbox.

Werkzeug's own server closes the connection after every answer, so each gateway call would open a new TCP
connection, which no real gateway makes its clients do. This one keeps an HTTP/1.1 connection open for the
next request when the request said how long its body was (that body is read to its end first, so that the
next request starts where it should), and closes one that stays idle for IDLE_TIMEOUT_S.

A `reset` fault must look like a TCP RST to the client (ConnectionResetError 104) and never like an orderly
close, so the socket gets SO_LINGER {on, 0} and skips the usual shutdown(SHUT_WR), whose FIN would reach the
client first. A `lost_response` fault closes the connection normally without writing anything, which the
client sees as http.client.RemoteDisconnected.
"""

from __future__ import annotations

import socket
import struct
import threading
import traceback
from typing import Any

from flask import Flask
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wsgi import LimitedStream

from sandbox.context import EXTENSION
from sandbox.faults import ConnectionFault, FaultKind

IDLE_TIMEOUT_S = 60.0


class SandboxRequestHandler(WSGIRequestHandler):
    server: SandboxServer
    timeout = IDLE_TIMEOUT_S
    disable_nagle_algorithm = True
    """Headers and body are two writes: without TCP_NODELAY the body would wait for the client's delayed ACK."""
    _body: LimitedStream | None = None
    """The request's body, when its length is known: the connection can then stay open for the next one."""

    def make_environ(self) -> Any:
        environ = super().make_environ()
        self._body = None
        length = environ.get("CONTENT_LENGTH") or "0"
        if not environ.get("wsgi.input_terminated") and length.isdigit():
            self._body = environ["wsgi.input"] = LimitedStream(self.rfile, int(length))  # type: ignore[arg-type]
        return environ

    def run_wsgi(self) -> None:
        """Answer one request with the whole body and its length, then read what the app left of the request body.

        Werkzeug's own version closes the connection after every answer and, to be able to, reads whatever the
        client sends next and throws it away: with a kept-alive connection that would be the next request.
        The sandbox's answers are small, so each is gathered and sent at once.
        """
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.environ = environ = self.make_environ()
        answer: list[Any] = ["500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")]]
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer[:] = [status, headers]
            return chunks.append

        try:
            result = self.server.app(environ, start_response)
            try:
                chunks.extend(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except (ConnectionError, TimeoutError) as exc:  # a ConnectionFault, or the client went away
            self.connection_dropped(exc, environ)
            return
        except Exception:  # noqa: BLE001 - a bug in a sandbox view: a 500, and the traceback in the log
            self.server.log("error", f"Error on request {self.command} {self.path}:\n{traceback.format_exc()}")
            answer[:] = ["500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")]]
            chunks[:] = [b"Internal Server Error"]
        self._send_answer(answer[0], answer[1], b"".join(chunks))

    def _send_answer(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        code_text, _, reason = status.partition(" ")
        code = int(code_text)
        bodiless = self.command == "HEAD" or code < 200 or code in (204, 304)
        keep_alive = self._body is not None and not self.close_connection
        self.send_response(code, reason)
        for name, value in headers:
            lowered = name.lower()
            if lowered in ("connection", "transfer-encoding") or (lowered == "content-length" and not bodiless):
                continue
            self.send_header(name, value)
        if not bodiless:
            self.send_header("Content-Length", str(len(body)))
        if not keep_alive:
            self.send_header("Connection", "close")
        self.end_headers()
        if not bodiless:
            self.wfile.write(body)
        self.wfile.flush()
        if keep_alive and self._body is not None:
            try:
                self._body.exhaust()  # what the app left unread of the body: the next request line comes next
            except (OSError, ValueError):
                self.close_connection = True

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        if not format.startswith("Request timed out"):  # an idle kept-alive connection closing: not an error
            super().log_error(format, *args)

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        self.close_connection = True
        if not isinstance(error, ConnectionFault):
            return
        if error.kind is FaultKind.RESET:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.server.reset_on_close(self.connection)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.server.log_requests:
            super().log_request(code, size)


class SandboxServer(ThreadedWSGIServer):
    """ThreadedWSGIServer that closes marked connections with a reset instead of a FIN."""

    log_requests = False
    block_on_close = False
    """`server_close` does not wait for the threads of open connections: `close_connections` ends them."""

    def __init__(self, host: str, port: int, app: Any, log_requests: bool = False) -> None:
        super().__init__(host, port, app, handler=SandboxRequestHandler)
        self.log_requests = log_requests
        self._resets: set[socket.socket] = set()
        self._resets_lock = threading.Lock()
        self._open: set[socket.socket] = set()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._resets_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def close_connections(self) -> None:
        """End every open connection, so that a stopped sandbox answers no one on a kept-alive connection."""
        with self._resets_lock:
            still_open = list(self._open)
        for connection in still_open:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def reset_on_close(self, connection: socket.socket) -> None:
        with self._resets_lock:
            self._resets.add(connection)

    def shutdown_request(self, request: Any) -> None:
        with self._resets_lock:
            reset = request in self._resets
            self._resets.discard(request)
            self._open.discard(request)
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
        self.server.close_connections()
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
