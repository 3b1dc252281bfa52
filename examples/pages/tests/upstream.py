"""A stub upstream HTTP API on 127.0.0.1, for the routes that call one.

Real sockets, no mocks: :func:`running` starts it on a free port in a
thread and stops it after, closing the proxy's pooled connections first::

    with running() as upstream:
        monkeypatch.setenv("OPENAI_API_URL", upstream.url("/v1/chat/completions"))
        ...
        (request,) = upstream.received
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from microapi.proxy import close_pool

#: Seconds any one step may take: reading a request, stopping the server.
BOUND = 5.0


@dataclass
class Received:
    """One request as the upstream received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class StubUpstream(ThreadingHTTPServer):
    """Answers every request with :attr:`status` and :attr:`reply` as JSON."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[Received] = []
        self.status = 200
        self.reply: Any = {}

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.server_port}{path}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real APIs
    timeout = BOUND  # a socket timeout: a stalled client cannot hold a thread
    server: StubUpstream

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = dict(self.headers.items())
        self.server.received.append(Received(self.command, self.path, headers, body))
        reply = json.dumps(self.server.reply).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer


@contextmanager
def running() -> Iterator[StubUpstream]:
    """A started :class:`StubUpstream`, shut down and closed on exit."""
    server = StubUpstream()
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        close_pool()  # the proxy's idle keep-alive connections to this server
        server.shutdown()
        server.server_close()
        thread.join(BOUND)
