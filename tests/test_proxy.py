"""microapi.proxy: forward() against a real upstream on 127.0.0.1, no HTTP mocks."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from microapi import Api, Request, Res
from microapi.proxy import (
    FORWARDED_HEADERS,
    RESPONSE_HEADERS,
    UpstreamBodyError,
    close_pool,
    forward,
    get_pool,
)
from microapi.testing import TestClient
from tests.helpers import assert_problem

ROOT = Path(__file__).resolve().parents[1]
SECRET = "s3cr3t-upstream-key-0123456789"
LARGE = bytes(range(256)) * 4096  # 1 MiB


# -- a stub upstream ------------------------------------------------------------


@dataclass
class Seen:
    """One request as the upstream received it."""

    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    port: int  # the proxy's local port: the same port means a reused connection

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return ", ".join(values) if values else None


class _UpstreamServer(ThreadingHTTPServer):
    seen: list[Seen]
    stopping: threading.Event
    release: threading.Event

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the proxy hanging up on a stalled answer is expected here


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked bodies
    server: _UpstreamServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = self._read_body()
        url = urlsplit(self.path)
        headers = list(self.headers.items())
        port = self.client_address[1]
        self.server.seen.append(Seen(self.command, url.path, url.query, headers, body, port))
        endpoint = url.path.strip("/").partition("/")[0]
        getattr(self, f"_{endpoint}", self._echo)(url.path, dict(parse_qsl(url.query)))

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = bytearray()
            for _ in range(100_000):  # bounded
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
            return bytes(data)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(
        self, status: int, body: bytes, headers: dict[str, str] | None = None, **options: Any
    ) -> None:
        self.send_response(status)
        headers = {
            "Content-Type": "text/plain",
            "Content-Length": str(len(body)),
            **(headers or {}),
        }
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)

    def _echo(self, path: str, query: dict[str, str]) -> None:
        seen = self.server.seen[-1]
        # NOTE: not the query or headers: they carry the secret, and what
        # the client sees must not.  Tests read upstream.last instead.
        body = json.dumps({"method": seen.method, "path": path, "length": len(seen.body)}).encode()
        self._send(
            200,
            body,
            {
                "Content-Type": "application/json",
                "Cache-Control": "max-age=60",
                "ETag": '"v1"',
                "Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT",
                "Vary": "Accept-Encoding",
                "Connection": "X-Upstream-Hop",
                "X-Upstream-Hop": "listed-in-connection",
                "Keep-Alive": "timeout=5",
                "Proxy-Authenticate": "Basic",
                "Trailer": "X-Checksum",
                "Upgrade": "h2c",
                "Set-Cookie": "upstream=1",
                "X-Powered-By": "stub",
                "Location": f"http://127.0.0.1:{self.server.server_port}/elsewhere",
                "Access-Control-Allow-Origin": "*",
            },
        )

    def _status(self, path: str, query: dict[str, str]) -> None:
        status = int(path.rsplit("/", 1)[1])
        self._send(status, f"upstream says {status}".encode(), {"ETag": '"v1"'})

    def _redirect(self, path: str, query: dict[str, str]) -> None:
        location = f"http://127.0.0.1:{self.server.server_port}/echo?key={SECRET}"
        self._send(302, b"", {"Location": location})

    def _slow(self, path: str, query: dict[str, str]) -> None:
        self.server.stopping.wait(min(float(query["delay"]), 2.0))
        self._send(200, b"late")

    def _large(self, path: str, query: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(LARGE)))
        self.end_headers()
        if self.command == "HEAD":
            return
        for start in range(0, len(LARGE), 65536):
            self.wfile.write(LARGE[start : start + 65536])

    def _chunked(self, path: str, query: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for part in (b"part1-", b"part2-", b"part3"):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.flush()
        if query.get("cut"):  # die without the last chunk
            self.close_connection = True
            return
        self.wfile.write(b"0\r\n\r\n")

    def _events(self, path: str, query: dict[str, str]) -> None:
        """Server-sent events: the second waits until the test has the first."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in (b"data: one\n\n", b"data: two\n\n"):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
            self.server.release.wait(2.0)
        self.wfile.write(b"0\r\n\r\n")

    def _controls(self, path: str, query: dict[str, str]) -> None:
        """Header values RFC 9110 forbids: a control in Content-Type and in ETag."""
        self._send(200, b"body", {"Content-Type": "text/html\x01", "ETag": '"v\x7f"'})

    def _truncated(self, path: str, query: dict[str, str]) -> None:
        """Promise 1000 bytes, send 10, then hang up (or stall first)."""
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(b"0123456789")
        self.wfile.flush()
        if query.get("stall"):
            self.server.stopping.wait(1.0)
        self.close_connection = True


class Upstream:
    """The stub upstream, on 127.0.0.1 and a free port."""

    def __init__(self) -> None:
        self.server = _UpstreamServer(("127.0.0.1", 0), _Upstream)
        self.server.seen = []
        self.server.stopping = threading.Event()
        self.server.release = threading.Event()
        self.port = self.server.server_port
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def seen(self) -> list[Seen]:
        return self.server.seen

    @property
    def last(self) -> Seen:
        return self.server.seen[-1]

    def close(self) -> None:
        self.server.stopping.set()
        self.server.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture(scope="module")
def stub() -> Iterator[Upstream]:
    upstream = Upstream()
    try:
        yield upstream
    finally:
        close_pool()  # closes the idle keep-alive connections to it
        upstream.close()


@pytest.fixture
def upstream(stub: Upstream) -> Upstream:
    stub.seen.clear()
    return stub


def proxy_api(url: str, **options: Any) -> Api:
    """An Api whose /p route (any method, body unparsed) forwards to *url*."""
    api = Api()

    @api.route("/p", methods=["GET", "POST", "PUT", "DELETE"], body_parser=False)
    def proxied(req: Request, res: Res) -> Res:
        return forward(req, res, url, **options)

    return api


def assert_no_leak(text: str | bytes, upstream: Upstream, *extra: str) -> None:
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    for secret in (SECRET, "127.0.0.1", f":{upstream.port}", upstream.url(""), *extra):
        assert secret not in text


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- what goes upstream ------------------------------------------------------------


def test_forwards_method_path_query_and_body(upstream: Upstream) -> None:
    client = TestClient(proxy_api(upstream.url("/echo/deep")))
    response = client.post("/p?city=Tokyo&units=metric", data=b"hello", content_type="text/plain")
    assert response.status_code == 200
    assert response.json == {"method": "POST", "path": "/echo/deep", "length": 5}
    seen = upstream.last
    assert seen.query == "city=Tokyo&units=metric"
    assert (seen.body, seen.header("Content-Type"), seen.header("Content-Length")) == (
        b"hello",
        "text/plain",
        "5",
    )
    for method in ("PUT", "DELETE", "GET"):
        assert json.loads(client.open("/p", method=method).data)["method"] == method


def test_params_are_added_and_win_over_the_client(upstream: Upstream) -> None:
    api = proxy_api(upstream.url("/echo?units=metric"), params={"appid": SECRET})
    response = TestClient(api).get(
        "/p?city=T%C5%8Dky%C5%8D&appid=mine&APPID=again&app%69d=sneaky&units=imperial&x=a;appid=b"
    )
    assert response.status_code == 200
    # The URL's own parameters and params= are the server's: the client's
    # copies are dropped (whatever their case or encoding), and ";" cannot
    # smuggle a second one to an upstream that splits on it.
    assert upstream.last.query == f"units=metric&city=T%C5%8Dky%C5%8D&x=a%3Bappid=b&appid={SECRET}"
    assert_no_leak(response.data, upstream)


def test_forward_query_false_sends_only_the_servers(upstream: Upstream) -> None:
    api = proxy_api(upstream.url("/echo"), params=[("q", "Tokyo"), ("q", "Osaka")])
    TestClient(api).get("/p?city=Nagoya", query_string=None)
    assert upstream.last.query == "city=Nagoya&q=Tokyo&q=Osaka"
    api = proxy_api(upstream.url("/echo"), params={"q": "a b"}, forward_query=False)
    TestClient(api).get("/p?city=Nagoya")
    assert upstream.last.query == "q=a%20b"


def test_secret_header_reaches_the_upstream_only(upstream: Upstream) -> None:
    api = proxy_api(upstream.url("/echo"), headers={"Authorization": f"Bearer {SECRET}"})
    response = TestClient(api).get("/p", headers={"Authorization": "Bearer client-token"})
    assert upstream.last.header("Authorization") == f"Bearer {SECRET}"
    assert_no_leak(response.data, upstream)
    assert_no_leak(str(response.headers), upstream)


def test_client_credentials_and_host_stay_home_by_default(upstream: Upstream) -> None:
    client = TestClient(proxy_api(upstream.url("/echo")), use_cookies=False)
    client.get(
        "/p",
        headers={
            "Cookie": "session=abc",
            "Authorization": "Bearer client-token",
            "X-Forwarded-For": "6.6.6.6",
            "X-Internal": "1",
            "Accept": "application/json",
            "Accept-Language": "ja",
            "If-None-Match": '"v0"',
        },
    )
    seen = upstream.last
    for name in ("Cookie", "Authorization", "X-Forwarded-For", "X-Internal"):
        assert seen.header(name) is None, name
    assert seen.header("Host") == f"127.0.0.1:{upstream.port}"
    assert seen.header("Accept") == "application/json"
    assert seen.header("Accept-Language") == "ja"
    assert seen.header("If-None-Match") == '"v0"'


def test_forward_headers_opts_in(upstream: Upstream) -> None:
    names = FORWARDED_HEADERS | {"Authorization", "cookie", "host"}
    client = TestClient(proxy_api(upstream.url("/echo"), forward_headers=names), use_cookies=False)
    client.get("/p", headers={"Cookie": "a=b", "Authorization": "Bearer t", "Host": "api.test"})
    seen = upstream.last
    assert (seen.header("Cookie"), seen.header("Authorization")) == ("a=b", "Bearer t")
    assert seen.header("Host") == "api.test"


def test_hop_by_hop_request_headers_are_stripped(upstream: Upstream) -> None:
    names = FORWARDED_HEADERS | {"x-hop", "x-kept"}
    client = TestClient(proxy_api(upstream.url("/echo"), forward_headers=names))
    client.get(
        "/p",
        headers={
            "Connection": "keep-alive, X-Hop",
            "X-Hop": "1",
            "X-Kept": "1",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Trailer": "X-Checksum",
            "Upgrade": "websocket",
            "Proxy-Authorization": "Basic eDp5",
            "Proxy-Connection": "keep-alive",
        },
    )
    seen = upstream.last
    for name in ("X-Hop", "Keep-Alive", "TE", "Trailer", "Upgrade", "Proxy-Authorization"):
        assert seen.header(name) is None, name
    assert seen.header("Connection") is None
    assert seen.header("X-Kept") == "1"


def test_upstream_header_values_microapi_refuses_are_dropped(upstream: Upstream) -> None:
    response = TestClient(proxy_api(upstream.url("/controls"))).get("/p")
    assert (response.status_code, response.data) == (200, b"body")
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert "ETag" not in response.headers


def test_hop_by_hop_and_unsafe_response_headers_are_stripped(upstream: Upstream) -> None:
    response = TestClient(proxy_api(upstream.url("/echo"))).get("/p")
    headers = response.headers
    assert headers["Content-Type"] == "application/json"
    assert (headers["Cache-Control"], headers["ETag"]) == ("max-age=60", '"v1"')
    assert headers["Last-Modified"] == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert headers["Vary"] == "Accept-Encoding"
    for name in (
        "Connection",
        "X-Upstream-Hop",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Trailer",
        "Upgrade",
        "Set-Cookie",
        "X-Powered-By",
        "Location",
        "Access-Control-Allow-Origin",
        "Server",
    ):
        assert name not in headers, name
    # Opting in passes a header, unless the upstream's Connection lists it.
    names = RESPONSE_HEADERS | {"x-powered-by", "x-upstream-hop", "set-cookie"}
    headers = TestClient(proxy_api(upstream.url("/echo"), response_headers=names)).get("/p").headers
    assert (headers["X-Powered-By"], headers["Set-Cookie"]) == ("stub", "upstream=1")
    assert "X-Upstream-Hop" not in headers


def test_vary_adds_to_what_middleware_set(upstream: Upstream) -> None:
    api = Api()

    @api.middleware
    def cors_like(req: Request, res: Res, next: Any) -> None:
        res.set_header("Vary", "Origin")
        next()

    @api.route("/p")
    def proxied(req: Request, res: Res) -> Res:
        return forward(req, res, upstream.url("/echo"))

    assert TestClient(api).get("/p").headers.getlist("Vary") == ["Origin", "Accept-Encoding"]


@pytest.mark.parametrize("option", ["forward_headers", "response_headers"])
@pytest.mark.parametrize("name", ["Connection", "transfer-encoding", "Content-Length"])
def test_hop_by_hop_names_are_refused(
    upstream: Upstream, caplog: pytest.LogCaptureFixture, option: str, name: str
) -> None:
    api = proxy_api(upstream.url("/echo"), **{option: {"accept", name}})
    assert_problem(TestClient(api).get("/p"), 500)
    assert f"ValueError: forward(): {option} lists {name.lower()}" in caplog.text
    assert upstream.seen == []


# -- bodies -----------------------------------------------------------------------


def test_large_request_body_is_streamed_with_its_length(upstream: Upstream) -> None:
    data = os.urandom(200_000)  # over 64 KiB: several reads
    response = TestClient(proxy_api(upstream.url("/echo"))).post("/p", data=data)
    assert json.loads(response.data)["length"] == len(data)
    seen = upstream.last
    assert seen.body == data
    assert (seen.header("Content-Length"), seen.header("Transfer-Encoding")) == ("200000", None)


def test_body_over_the_limit_is_413_before_any_upstream_call(upstream: Upstream) -> None:
    api = Api(body_limit=1000)

    @api.route("/p", methods=["POST"], body_parser=False)
    def proxied(req: Request, res: Res) -> Res:
        return forward(req, res, upstream.url("/echo"))

    assert_problem(TestClient(api).post("/p", data=b"x" * 1001), 413)
    assert upstream.seen == []


def test_a_body_already_read_is_forwarded_whole(
    upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    api = Api()

    @api.route("/parsed", methods=["POST"])
    def parsed(req: Request, res: Res) -> Res:
        assert req.body == {"prompt": "hi"}
        return forward(req, res, upstream.url("/echo"))

    @api.route("/raw", methods=["POST"], body_parser=False)
    def raw(req: Request, res: Res) -> Res:
        assert req.get_data() == b"signed"  # e.g. a webhook signature check
        return forward(req, res, upstream.url("/echo"))

    @api.route("/partial", methods=["POST"], body_parser=False)
    def partial(req: Request, res: Res) -> Res:
        req.stream.read(2)
        return forward(req, res, upstream.url("/echo"))

    client = TestClient(api)
    client.post("/parsed", json={"prompt": "hi"})
    assert upstream.last.body == b'{"prompt": "hi"}'
    client.post("/raw", data=b"signed")
    assert upstream.last.body == b"signed"
    assert_problem(client.post("/partial", data=b"signed"), 500)
    assert "the request body was partly read from req.stream" in caplog.text
    assert len(upstream.seen) == 2


def test_parsed_route_forwards_the_buffered_body(upstream: Upstream) -> None:
    api = Api()

    @api.route("/p", methods=["POST"])
    def proxied(req: Request, res: Res) -> Res:
        forward(req, res, upstream.url("/echo"))
        assert req.body == {"a": 1}  # still readable afterwards
        return res

    assert json.loads(TestClient(api).post("/p", json={"a": 1}).data)["length"] == 8
    assert (upstream.last.body, upstream.last.header("Content-Length")) == (b'{"a": 1}', "8")


class _Disconnecting(io.RawIOBase):
    """A wsgi.input whose client goes away after the first read."""

    reads = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self.reads += 1
        if self.reads > 1:
            raise ConnectionResetError("client went away")
        buffer[:1] = b"x"
        return 1


def test_client_going_away_mid_upload_is_400_not_502(upstream: Upstream) -> None:
    client = TestClient(proxy_api(upstream.url("/echo")))
    environ = {"wsgi.input": _Disconnecting(), "CONTENT_LENGTH": "100000"}
    response = client.post("/p", environ_overrides=environ)
    assert_problem(response, 400)


def test_body_replaces_the_clients_with_its_own_headers(upstream: Upstream) -> None:
    api = proxy_api(
        upstream.url("/echo"),
        method="POST",
        body='{"model": "m"}',
        headers={"Content-Type": "application/json"},
    )
    TestClient(api).put("/p", data="a=1", content_type="application/x-www-form-urlencoded")
    seen = upstream.last
    assert (seen.method, seen.body) == ("POST", b'{"model": "m"}')
    assert seen.header("Content-Type") == "application/json"
    TestClient(proxy_api(upstream.url("/echo"), body=iter([b"ab", b"cd"]))).post("/p")
    assert (upstream.last.body, upstream.last.header("Transfer-Encoding")) == (b"abcd", "chunked")


def test_large_response_is_streamed_in_pieces(upstream: Upstream) -> None:
    response = TestClient(proxy_api(upstream.url("/large"))).get("/p", buffered=False)
    try:
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/octet-stream"
        # NOTE: res.stream lets the server frame the body; see the proxy docs.
        assert "Content-Length" not in response.headers
        chunks = list(response.iter_encoded())
    finally:
        response.close()
    assert len(chunks) > 1
    assert max(len(chunk) for chunk in chunks) <= 64 * 1024
    assert hashlib.sha256(b"".join(chunks)).digest() == hashlib.sha256(LARGE).digest()


def test_chunked_upstream_response(upstream: Upstream) -> None:
    response = TestClient(proxy_api(upstream.url("/chunked"))).get("/p")
    assert (response.status_code, response.data) == (200, b"part1-part2-part3")
    assert response.headers["Content-Type"] == "text/plain"


def test_events_reach_the_client_as_they_come(upstream: Upstream) -> None:
    upstream.server.release.clear()
    response = TestClient(proxy_api(upstream.url("/events"))).get("/p", buffered=False)
    try:
        assert response.headers["Content-Type"] == "text/event-stream"
        events = iter(response.response)
        start = time.monotonic()
        assert next(events) == b"data: one\n\n"  # while the upstream holds "two" back
        assert time.monotonic() - start < 1
        upstream.server.release.set()
        assert b"".join(events) == b"data: two\n\n"
    finally:
        upstream.server.release.set()
        response.close()


# -- statuses pass through ------------------------------------------------------------


@pytest.mark.parametrize("status", [201, 400, 401, 404, 429, 500, 503])
def test_upstream_statuses_pass_through_unchanged(upstream: Upstream, status: int) -> None:
    response = TestClient(proxy_api(upstream.url(f"/status/{status}"))).get("/p")
    assert response.status_code == status
    assert response.data == f"upstream says {status}".encode()
    assert response.mimetype == "text/plain"  # not turned into a problem


def test_an_impossible_upstream_status_is_502(
    upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    response = TestClient(proxy_api(upstream.url("/status/600"))).get("/p")
    problem = assert_problem(response, 502)
    assert problem["detail"] == "the upstream service sent an invalid response"
    assert "upstream sent status 600 in GET /p (route proxied)" in caplog.text
    assert_no_leak(caplog.text, upstream)


def test_head_and_304_and_redirects_carry_no_body(upstream: Upstream) -> None:
    client = TestClient(proxy_api(upstream.url("/status/304")))
    response = client.get("/p", headers={"If-None-Match": '"v1"'})
    assert (response.status_code, response.data, response.headers["ETag"]) == (304, b"", '"v1"')
    response = TestClient(proxy_api(upstream.url("/echo"))).head("/p")
    assert (response.status_code, response.data, upstream.last.method) == (200, b"", "HEAD")
    # Redirects are not followed, and their Location names the upstream.
    response = TestClient(proxy_api(upstream.url("/redirect"))).get("/p")
    assert (response.status_code, "Location" in response.headers) == (302, False)
    assert len(upstream.seen) == 3


def test_connections_return_to_the_pool(upstream: Upstream) -> None:
    client = TestClient(proxy_api(upstream.url("/large")))
    client.get("/p")  # read to the end
    client.head("/p")  # no body at all
    client.get("/p")
    assert len({seen.port for seen in upstream.seen}) == 1
    # A client that stops reading mid-body: the connection is not reused.
    response = client.get("/p", buffered=False)
    next(iter(response.response))
    response.close()
    client.get("/p")
    assert upstream.seen[-1].port != upstream.seen[-2].port


# -- failures ---------------------------------------------------------------------


def test_upstream_timeout_is_504_without_details(
    upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    api = proxy_api(upstream.url("/slow?delay=1.5"), params={"key": SECRET}, timeout=0.3)
    start = time.monotonic()
    response = TestClient(api).get("/p")
    assert time.monotonic() - start < 1.2
    problem = assert_problem(response, 504)
    assert problem["detail"] == "the upstream service did not answer in time"
    assert_no_leak(response.data, upstream)
    assert_no_leak(caplog.text, upstream)
    (record,) = [r for r in caplog.records if r.name == "microapi.proxy"]
    assert record.levelno == logging.WARNING
    assert "timed out (ReadTimeoutError) in GET /p (route proxied)" in record.getMessage()


def test_connect_timeout_is_504(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)  # a full accept queue: further SYNs go unanswered
        fillers: list[socket.socket] = []
        try:
            for _ in range(8):
                filler = socket.socket()
                fillers.append(filler)
                filler.settimeout(0.2)
                try:
                    filler.connect(listener.getsockname())
                except TimeoutError:
                    break
            else:
                pytest.skip("this kernel answers every SYN")
            port = listener.getsockname()[1]
            api = proxy_api(f"http://127.0.0.1:{port}/x", timeout=0.3)
            problem = assert_problem(TestClient(api).get("/p"), 504)
        finally:
            for filler in fillers:
                filler.close()
    assert "127.0.0.1" not in json.dumps(problem)
    assert "ConnectTimeoutError" in caplog.text
    assert "127.0.0.1" not in caplog.text


def test_connection_refused_is_502_without_details(
    upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    port = closed_port()
    url = f"http://127.0.0.1:{port}/v1?key={SECRET}"
    response = TestClient(proxy_api(url, headers={"X-Key": SECRET})).get("/p")
    problem = assert_problem(response, 502)
    assert problem["detail"] == "the upstream service is unavailable"
    assert_no_leak(response.data, upstream, str(port), url)
    assert_no_leak(caplog.text, upstream, str(port), url)
    assert "unavailable (NewConnectionError) in GET /p (route proxied)" in caplog.text


def test_body_breaking_off_closes_the_response(
    upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    for url in (upstream.url("/truncated"), upstream.url("/chunked?cut=1")):
        api = proxy_api(url, params={"key": SECRET})
        start = time.monotonic()
        response = TestClient(api).get("/p", buffered=False)
        try:
            assert response.status_code == 200  # already sent: never a 5xx now
            with pytest.raises(UpstreamBodyError, match="broke off") as caught:
                response.get_data()
        finally:
            response.close()
        assert time.monotonic() - start < 2
        assert_no_leak(str(caught.value), upstream)
    assert_no_leak(caplog.text, upstream)
    warnings = [r for r in caplog.records if r.name == "microapi.proxy"]
    assert [r.levelno for r in warnings] == [logging.WARNING] * 2
    assert "broke off after 10 bytes (ProtocolError) in GET /p (route proxied)" in caplog.text


def test_body_stalling_times_out_and_closes(
    upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    api = proxy_api(upstream.url("/truncated?stall=1"), timeout=0.2)
    start = time.monotonic()
    with pytest.raises(UpstreamBodyError, match="ReadTimeoutError"):
        TestClient(api).get("/p")
    assert time.monotonic() - start < 1
    assert_no_leak(caplog.text, upstream)


def test_configuration_mistakes_do_not_echo_secrets(
    upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    for url in (f"ftp://127.0.0.1/?key={SECRET}", f"/relative?key={SECRET}"):
        assert_problem(TestClient(proxy_api(url)).get("/p"), 500)
    api = proxy_api(upstream.url("/echo"), headers={"X-Key": f"{SECRET}\n"})
    assert_problem(TestClient(api).get("/p"), 500)
    assert caplog.text.count("ValueError: forward() needs an absolute http") == 2
    assert "header 'X-Key' has a newline or NUL in its value" in caplog.text
    assert SECRET not in caplog.text
    assert upstream.seen == []


def test_forward_after_sending_is_an_error(
    upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    api = Api()

    @api.route("/p")
    def twice(req: Request, res: Res) -> Res:
        res.json({})
        return forward(req, res, upstream.url("/echo"))

    assert_problem(TestClient(api).get("/p"), 500)
    assert "forward() needs a response that was not sent yet" in caplog.text
    assert upstream.seen == []


# -- the pool -----------------------------------------------------------------------


def test_missing_urllib3_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    close_pool()
    monkeypatch.setitem(sys.modules, "urllib3", None)
    with pytest.raises(ImportError, match=r'pip install "microapi-wsgi\[proxy\]"'):
        get_pool()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_pool_is_recreated_after_fork() -> None:
    script = textwrap.dedent(
        """
        import os, sys
        from microapi.proxy import get_pool

        parent = get_pool()
        parent.connection_from_url("http://127.0.0.1:9/")
        pid = os.fork()
        if pid == 0:
            child = get_pool()
            ok = child is not parent and get_pool() is child and len(parent.pools) == 0
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        ok = get_pool() is parent and len(parent.pools) == 1
        sys.exit(os.waitstatus_to_exitcode(status) or (0 if ok else 2))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, timeout=30, check=False)
    assert result.returncode == 0


def test_a_custom_pool(upstream: Upstream) -> None:
    import urllib3

    with urllib3.PoolManager(headers={"User-Agent": "weather-app/1"}) as pool:
        TestClient(proxy_api(upstream.url("/echo"), pool=pool)).get("/p")
    assert upstream.last.header("User-Agent") == "weather-app/1"


# -- end to end over real sockets ------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:
        pass


class _QuietServer(ThreadedWSGIServer):
    def log(self, type: str, message: str, *args: Any) -> None:
        pass


@contextmanager
def serving(api: Api) -> Iterator[int]:
    """Serve *api* with werkzeug's server on 127.0.0.1; yield its port."""
    server = _QuietServer("127.0.0.1", 0, api, handler=_QuietHandler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server.port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def connect(port: int) -> Iterator[http.client.HTTPConnection]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        yield connection
    finally:
        connection.close()


def test_end_to_end_over_real_sockets(upstream: Upstream) -> None:
    api = Api()

    @api.route("/api/upload", methods=["POST"], body_parser=False)
    def upload(req: Request, res: Res) -> Res:
        return forward(req, res, upstream.url("/echo"), params={"key": SECRET})

    @api.route("/api/small", methods=["POST"], body_parser=False, body_limit=100_000)
    def small(req: Request, res: Res) -> Res:
        return forward(req, res, upstream.url("/echo"))

    @api.route("/api/large")
    def large(req: Request, res: Res) -> Res:
        return forward(req, res, upstream.url("/large"))

    @api.route("/api/broken")
    def broken(req: Request, res: Res) -> Res:
        return forward(req, res, upstream.url("/truncated"))

    data = os.urandom(150_000)
    with serving(api) as port:
        with connect(port) as connection:
            chunks = (data[i : i + 50_000] for i in range(0, len(data), 50_000))
            connection.request("POST", "/api/upload?city=Tokyo", body=chunks, encode_chunked=True)
            response = connection.getresponse()
            assert response.status == 200
            assert response.getheader("Transfer-Encoding") == "chunked"
            assert response.getheader("X-Upstream-Hop") is None
            body = response.read()
        assert json.loads(body)["length"] == len(data)
        seen = upstream.last
        assert (seen.body, seen.query) == (data, f"city=Tokyo&key={SECRET}")
        assert seen.header("Transfer-Encoding") == "chunked"  # length unknown: streamed
        assert_no_leak(body, upstream)

        with connect(port) as connection:
            chunks = (data[i : i + 50_000] for i in range(0, len(data), 50_000))
            connection.request("POST", "/api/small", body=chunks, encode_chunked=True)
            response = connection.getresponse()
            assert (response.status, json.loads(response.read())["status"]) == (413, 413)

        with connect(port) as connection:
            connection.request("GET", "/api/large")
            response = connection.getresponse()
            assert response.read() == LARGE

        start = time.monotonic()
        with connect(port) as connection:
            connection.request("GET", "/api/broken")
            response = connection.getresponse()
            assert response.status == 200
            with pytest.raises(http.client.IncompleteRead) as caught:
                response.read()
            assert caught.value.partial == b"0123456789"
        assert time.monotonic() - start < 2


def test_a_hanging_upstream_is_504_under_a_server(tmp_path: Path, server_name: str) -> None:
    """Real server workers, an upstream that accepts and never answers."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.helpers import serving

    def get(port: int) -> tuple[int, bytes, float]:
        start = time.monotonic()
        # NOTE: no answer within this client timeout means forward() hung.
        with connect(port) as connection:
            connection.request("GET", "/p")
            response = connection.getresponse()
            return response.status, response.read(), time.monotonic() - start

    with socket.socket() as hanging:
        hanging.bind(("127.0.0.1", 0))
        hanging.listen(64)  # the kernel completes the handshakes; nothing ever reads
        url = f"http://127.0.0.1:{hanging.getsockname()[1]}/v1?key={SECRET}"
        app = f"tests.test_proxy:proxy_api({url!r}, timeout=0.5)"
        with serving(app, tmp_path, server_name) as (_, port), ThreadPoolExecutor(8) as pool:
            answers = [get(port), get(port)]  # one per worker, each warmed up
            # Twice the 2 workers x 2 threads: the hung calls do not wedge them.
            answers += pool.map(get, [port] * 8)
    for status, body, _ in answers:
        assert status == 504
        problem = json.loads(body)
        assert problem["detail"] == "the upstream service did not answer in time"
        for secret in (SECRET, "127.0.0.1", url):
            assert secret not in body.decode()
    print(f"\n504 after {', '.join(f'{elapsed:.2f}' for *_, elapsed in answers)} s")


# -- a hostile upstream ------------------------------------------------------------------


@contextmanager
def raw_upstream(answer: bytes, *, endless: bytes = b"") -> Iterator[str]:
    """An upstream that answers every connection with the bytes *answer*.

    Then, if *endless* is given, sends it again and again until the proxy
    hangs up (at most 64 MiB); then closes.  Yields its URL.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)  # to notice *stop*
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(10)
            with conn:
                try:
                    conn.recv(65536)  # the request (small, one read is enough)
                    conn.sendall(answer)
                    for _ in range(64 * 1024 * 1024 // max(1, len(endless)) if endless else 0):
                        conn.sendall(endless)
                except OSError:
                    pass  # the proxy hung up: what an endless answer expects

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        stop.set()
        listener.close()
        thread.join(10)


#: Answers no upstream should send, and what the client gets: a 502 problem
#: when the head is bad (nothing was sent yet).
BAD_HEADS = {
    "not HTTP": b"hello there\r\n\r\n",
    "bad status": b"HTTP/1.1 2OO OK\r\n\r\n",
    "status 1000": b"HTTP/1.1 1000 Big\r\nContent-Length: 0\r\n\r\n",
    "header line of 100 kB": b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
    "1000 headers": b"HTTP/1.1 200 OK\r\n" + b"X-Many: 1\r\n" * 1000 + b"\r\n",
    "empty answer": b"",
}


@pytest.mark.parametrize("answer", BAD_HEADS.values(), ids=BAD_HEADS.keys())
def test_a_hostile_upstream_head_is_502_without_details(
    answer: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with raw_upstream(answer) as url:
        api = proxy_api(url, params={"key": SECRET}, timeout=2)
        start = time.monotonic()
        response = TestClient(api).get("/p")
        elapsed = time.monotonic() - start
    problem = assert_problem(response, 502)
    assert SECRET not in json.dumps(problem)
    assert url not in json.dumps(problem)
    assert elapsed < 2  # refused at once, not by a timeout
    assert SECRET not in caplog.text
    assert "Traceback" not in caplog.text


#: Answers whose head is fine but whose body framing is not.
BAD_BODIES = {
    "two Content-Lengths": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello"
    ),
    "chunk size ZZ": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nhello\r\n0\r\n\r\n"
    ),
    "shorter than its length": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello",
}


@pytest.mark.parametrize("answer", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_hostile_upstream_body_is_a_502_or_a_closed_response(
    answer: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with raw_upstream(answer) as url:
        api = proxy_api(url, params={"key": SECRET}, timeout=2)
        response = TestClient(api).get("/p", buffered=False)
        try:
            if response.status_code == 200:  # already sent: it can only close
                with pytest.raises(UpstreamBodyError):
                    response.get_data()
            else:
                assert_problem(response, 502)
        finally:
            response.close()
    assert SECRET not in caplog.text
    assert "Traceback" not in caplog.text


def test_a_content_length_that_is_no_number_reads_the_body_to_its_close() -> None:
    # http.client's reading, kept: the length is unknown, so the body ends
    # where the upstream closes; microapi frames it anew for its client, so
    # the two cannot disagree on where the response ends.
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nhello"
    with raw_upstream(answer) as url:
        response = TestClient(proxy_api(url, timeout=2)).get("/p")
    assert response.status_code == 200
    assert response.get_data() == b"hello"
    assert "Content-Length" not in response.headers  # the server frames it


def test_an_endless_upstream_body_streams_until_the_client_leaves() -> None:
    chunk = b"x" * 65536
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n"
    with raw_upstream(head, endless=chunk) as url:
        api = proxy_api(url, timeout=2)
        response = TestClient(api).get("/p", buffered=False)
        try:
            assert response.status_code == 200
            received = 0
            for piece in response.response:  # the client reads 8 MiB, then leaves
                received += len(piece)
                if received >= 8 * 1024 * 1024:
                    break
        finally:
            response.close()  # closes the upstream connection, ending the stream
    assert received >= 8 * 1024 * 1024


def test_a_path_cannot_forge_a_proxy_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    api = Api()

    @api.route("/p/[...rest]")
    def proxied(req: Request, res: Res) -> Res:
        return forward(req, res, f"http://127.0.0.1:{closed_port()}/")

    response = TestClient(api).get("/p/x%0AERROR%20forged%0D")
    assert_problem(response, 502)
    lines = [r.getMessage() for r in caplog.records if r.name == "microapi.proxy"]
    assert len(lines) == 1
    assert "\n" not in lines[0]
    assert "\r" not in lines[0]
    assert "GET /p/x%0AERROR%20forged%0D (route proxied)" in lines[0]
