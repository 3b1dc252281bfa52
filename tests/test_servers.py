"""microapi.servers: ``microapi serve`` on gunicorn and granian, the same options on both."""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import signal
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from microapi import Api
from microapi.cli import main
from microapi.servers import ACCESS_LOG_ENV, APP_ENV, DEFAULT_THREADS, AccessLog, granian_app
from microapi.testing import TestClient
from tests.helpers import serving, serving_source

#: An app with request ids and a slow route, written into the test's directory.
APP = """
import time

from microapi import Api
from microapi.middleware import request_id

api = Api()
api.middleware(request_id())


@api.route("/hello")
def hello(req, res):
    return {"hello": "world"}


@api.route("/slow")
def slow(req, res):
    time.sleep(float(req.args.get("seconds", "1")))
    return {"slept": True}


@api.route("/stream")
def stream(req, res):
    res.stream(iter([b"one ", b"two"]), content_type="text/plain")
"""

#: One line of gunicorn's access log format (ACCESS_LOG_FORMAT), as both servers write it.
ACCESS_LINE = re.compile(
    r"^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "
    r'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<length>\d+|-) "-" "(?P<agent>(?:[^"\\]|\\.)*)" '
    r"\d+ms request_id=(?P<id>\S+)$",
    re.MULTILINE,
)


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "served_app.py").write_text(APP)
    return tmp_path


def call(
    address: tuple[str, int], path: str, headers: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection = http.client.HTTPConnection(*address, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def wait_for(predicate: Any, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


# -- real servers -----------------------------------------------------------------------


def test_each_request_is_logged_with_its_request_id(app_dir: Path, server_name: str) -> None:
    env = {"PYTHONPATH": str(app_dir)}
    with serving("served_app:api", app_dir, server_name, env=env) as served:
        status, headers, body = call(served.address, "/hello?x=1", {"User-Agent": 'ev"il'})
        assert (status, json.loads(body)) == (200, {"hello": "world"})
        status, stream_headers, streamed = call(served.address, "/stream")
        assert (status, streamed) == (200, b"one two")
        missing = call(served.address, "/missing")[0]
        assert wait_for(lambda: len(ACCESS_LINE.findall(served.text())) >= 3)
        lines = {match["request"]: match for match in ACCESS_LINE.finditer(served.text())}
    assert missing == 404
    hello = lines["GET /hello?x=1 HTTP/1.1"]
    assert (hello["status"], hello["length"]) == ("200", str(len(body)))
    assert hello["id"] == headers["X-Request-ID"]
    # A client's quote cannot end the field early.
    assert hello["agent"] == 'ev\\"il'
    stream = lines["GET /stream HTTP/1.1"]
    assert stream["id"] == stream_headers["X-Request-ID"]
    assert lines["GET /missing HTTP/1.1"]["status"] == "404"


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_lets_the_requests_in_flight_finish(
    app_dir: Path, server_name: str, stop_signal: signal.Signals
) -> None:
    env = {"PYTHONPATH": str(app_dir)}
    answers: list[tuple[int, bytes]] = []
    with serving("served_app:api", app_dir, server_name, workers=1, env=env) as served:
        assert call(served.address, "/hello")[0] == 200
        caller = threading.Thread(
            target=lambda: answers.append(call(served.address, "/slow?seconds=1.5")[::2])
        )
        caller.start()
        time.sleep(0.5)  # the request is in the worker now
        served.process.send_signal(stop_signal)
        caller.join(timeout=15)
        code = exit_status(served)
        assert not _accepts(served.address)
    assert answers == [(200, b'{"slept":true}')]
    assert code == 0


def exit_status(served: Any, seconds: float = 30) -> int:
    """The server's exit status once it has stopped (bounded); its log if it does not stop."""
    import subprocess

    try:
        code: int = served.process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{served.server} did not stop:\n{served.text()}") from None
    return code


def _accepts(address: tuple[str, int]) -> bool:
    import socket

    try:
        with socket.create_connection(address, timeout=1):
            return True
    except OSError:
        return False


def test_options_after_the_separator_reach_the_server(app_dir: Path, server_name: str) -> None:
    env = {"PYTHONPATH": str(app_dir)}
    # Both servers can close every connection after one request: a setting
    # only the server has, passed through untouched.
    passed = {"gunicorn": ("--keep-alive", "0"), "granian": ("--no-http1-keep-alive",)}
    with serving("served_app:api", app_dir, server_name, *passed[server_name], env=env) as served:
        connection = http.client.HTTPConnection(*served.address, timeout=10)
        try:
            connection.request("GET", "/hello")
            response = connection.getresponse()
            response.read()
            closes = response.will_close
        finally:
            connection.close()
    assert closes


# -- the command in process ---------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / "wsgi.py").write_text(
        textwrap.dedent(
            """
            from microapi import Api

            api = Api()
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "wsgi", raising=False)
    monkeypatch.delenv(APP_ENV, raising=False)
    monkeypatch.delenv(ACCESS_LOG_ENV, raising=False)
    yield tmp_path
    # NOTE: this test's wsgi.py must not stay imported for the next test's.
    sys.modules.pop("wsgi", None)


@pytest.fixture
def gunicorn_config(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The gunicorn config ``microapi serve`` built; gunicorn itself not run."""
    from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

    configs: list[Any] = []
    monkeypatch.setattr(BaseApplication, "run", lambda self: configs.append(self.cfg))
    return configs


@pytest.fixture
def granian_argv(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The granian command line ``microapi serve --server granian`` built; granian not run."""
    from granian.cli import cli

    calls: list[list[str]] = []

    def record(args: list[str], **kwargs: Any) -> None:
        calls.append(list(args))
        raise SystemExit(0)

    monkeypatch.setattr(cli, "main", record)
    return calls


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    try:
        code = main(list(args))
    except SystemExit as exc:  # what click does when granian stops
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def test_gunicorn_config_file_loses_to_the_options_given(
    project: Path, capsys: pytest.CaptureFixture[str], gunicorn_config: list[Any]
) -> None:
    (project / "gunicorn.conf.py").write_text("workers = 3\nthreads = 5\nmax_requests = 7\n")
    args = ["serve", "wsgi:api", "-c", "gunicorn.conf.py", "--threads", "9", "--log-level"]
    code, _ = run(capsys, *args, "debug", "--", "--max-requests", "11", "--keep-alive", "4")
    assert code == 0
    [cfg] = gunicorn_config
    assert cfg.workers == 3  # from the file: microapi's default counts as a default
    assert cfg.threads == 9  # given: wins over the file
    assert cfg.max_requests == 11  # passed through: wins over the file
    assert (cfg.keepalive, cfg.loglevel) == (4, "debug")
    assert (cfg.worker_class_str, cfg.preload_app, cfg.bind) == (
        "gthread",
        True,
        ["127.0.0.1:8000"],
    )
    assert (cfg.timeout, cfg.graceful_timeout) == (30, 30)


def test_gunicorn_worker_class_chosen_by_the_user_keeps_its_own_threads(
    project: Path, capsys: pytest.CaptureFixture[str], gunicorn_config: list[Any]
) -> None:
    # microapi's 32 threads would turn a sync worker into gthread (gunicorn's rule).
    assert run(capsys, "serve", "wsgi:api", "--", "--worker-class", "sync")[0] == 0
    assert (gunicorn_config[0].worker_class_str, gunicorn_config[0].threads) == ("sync", 1)
    (project / "gunicorn.conf.py").write_text("worker_class = 'sync'\n")
    assert run(capsys, "serve", "wsgi:api", "-c", "gunicorn.conf.py")[0] == 0
    assert (gunicorn_config[1].worker_class_str, gunicorn_config[1].threads) == ("sync", 1)
    # Threads typed, or set beside the class, are the user's: gunicorn's rule applies.
    args = ["serve", "wsgi:api", "--threads", "32", "--", "--worker-class", "sync"]
    assert run(capsys, *args)[0] == 0
    assert (gunicorn_config[2].worker_class_str, gunicorn_config[2].threads) == ("gthread", 32)
    args = ["serve", "wsgi:api", "--", "--worker-class", "sync", "--threads", "3"]
    assert run(capsys, *args)[0] == 0
    assert (gunicorn_config[3].worker_class_str, gunicorn_config[3].threads) == ("gthread", 3)


def test_gunicorn_without_access_log(
    project: Path, capsys: pytest.CaptureFixture[str], gunicorn_config: list[Any]
) -> None:
    (project / "gunicorn.conf.py").write_text("accesslog = '-'\n")
    assert run(capsys, "serve", "wsgi:api", "--no-access-log", "-c", "gunicorn.conf.py")[0] == 0
    assert gunicorn_config[0].accesslog is None
    assert run(capsys, "serve", "wsgi:api", "--timeout", "5")[0] == 0
    assert (gunicorn_config[1].timeout, gunicorn_config[1].graceful_timeout) == (5, 5)


def test_granian_gets_the_same_options(
    project: Path, capsys: pytest.CaptureFixture[str], granian_argv: list[list[str]]
) -> None:
    args = ["serve", "wsgi:api", "--server", "granian", "--bind", "[::1]:9000", "--workers", "3"]
    args += ["--threads", "4", "--timeout", "12", "--log-level", "warning"]
    code, _ = run(capsys, *args, "--", "--backpressure", "16")
    assert code == 0
    [argv] = granian_argv
    assert argv[-1] == "microapi.servers:granian_app"
    options = {flag: argv[argv.index(flag) + 1] for flag in argv if flag.startswith("--")}
    assert options["--host"] == "::1"
    assert options["--port"] == "9000"
    expected = {"--interface": "wsgi", "--workers": "3", "--blocking-threads": "4"}
    expected |= {"--workers-kill-timeout": "12", "--log-level": "warning"}
    assert expected.items() <= options.items()
    for flag in ("--factory", "--respawn-failed-workers", "--no-ws"):
        assert flag in argv
    # Passed through last, so that it wins over microapi's own choices.
    assert argv[-3:-1] == ["--backpressure", "16"]
    assert os.environ[APP_ENV] == "wsgi:api"
    assert os.environ[ACCESS_LOG_ENV] == "1"


def test_each_server_has_its_default_threads(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    granian_argv: list[list[str]],
    gunicorn_config: list[Any],
) -> None:
    assert run(capsys, "serve", "wsgi:api", "--server", "granian")[0] == 0
    [argv] = granian_argv
    assert argv[argv.index("--blocking-threads") + 1] == str(DEFAULT_THREADS["granian"]) == "8"
    assert run(capsys, "serve", "wsgi:api")[0] == 0
    assert gunicorn_config[0].threads == DEFAULT_THREADS["gunicorn"] == 32


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bind", "127.0.0.1:1", "--bind", "127.0.0.1:2"], "granian listens on one address"),
        (["-c", "gunicorn.conf.py"], "--config is a gunicorn config file"),
        (["--bind", "localhost"], "--bind takes HOST:PORT or unix:PATH, not 'localhost'"),
    ],
)
def test_granian_refuses_what_it_cannot_do(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    granian_argv: list[list[str]],
    args: list[str],
    message: str,
) -> None:
    code, err = run(capsys, "serve", "wsgi:api", "--server", "granian", *args)
    assert code == 2
    assert err.startswith("microapi: error: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert granian_argv == []


def test_granian_missing_names_the_extra(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "granian", None)  # an import of it fails
    monkeypatch.delitem(sys.modules, "granian.cli", raising=False)
    code, err = run(capsys, "serve", "wsgi:api", "--server", "granian")
    assert code == 2
    assert "granian" in err
    assert "[granian]" in err
    assert "pip install" in err


def test_server_options_after_another_command_are_an_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run(capsys, "routes", "wsgi:api", "--", "--workers", "2")
    assert code == 2
    assert "routes takes no server options after --" in err


def test_granian_app_is_the_loaded_app_with_an_access_log(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(APP_ENV, "wsgi:api")
    monkeypatch.setenv(ACCESS_LOG_ENV, "1")
    logged = granian_app()
    assert isinstance(logged, AccessLog)
    assert isinstance(logged.app, Api)
    monkeypatch.setenv(ACCESS_LOG_ENV, "")
    assert isinstance(granian_app(), Api)


# -- the access log ---------------------------------------------------------------------


@pytest.fixture
def logged_api() -> Api:
    api = Api()

    @api.route("/listed")
    def listed(req: Any, res: Any) -> Any:
        res.set_header("X-Request-ID", "abc")
        return {"ok": True}

    @api.route("/streamed")
    def streamed(req: Any, res: Any) -> None:
        res.stream(iter([b"a", b"b"]), content_type="text/plain")

    return api


def test_access_log_writes_one_line_per_response(logged_api: Api) -> None:
    stream = io.StringIO()
    client = TestClient(AccessLog(logged_api, stream))
    response = client.get(
        "/listed?q=1",
        headers={
            "User-Agent": 'agent\x1b"x',
            "Referer": "https://example.com/",
            "Authorization": "Bearer secret-token",
            "Cookie": "session=secret-cookie",
        },
    )
    assert response.status_code == 200
    [line] = stream.getvalue().splitlines()
    assert '"GET /listed?q=1 HTTP/1.1" 200 11 "https://example.com/"' in line
    assert '"agent\\x1b\\"x"' in line
    assert line.endswith("request_id=abc")
    assert "secret" not in stream.getvalue()


def test_access_log_of_a_stream_waits_for_its_end(logged_api: Api) -> None:
    stream = io.StringIO()
    app = AccessLog(logged_api, stream)
    started: list[str] = []
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/streamed",
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "192.0.2.9",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": io.StringIO(),
    }
    body = app(environ, lambda status, headers, exc_info=None: started.append(status))
    assert b"".join(body) == b"ab"
    assert stream.getvalue() == ""  # not yet: the server has not closed it
    body.close()
    [line] = stream.getvalue().splitlines()
    assert line.startswith("192.0.2.9 - - [")
    assert '"GET /streamed HTTP/1.1" 200 - "-" "-"' in line
    assert line.endswith("request_id=-")
    assert started == ["200 OK"]


def test_access_log_of_an_app_that_raises() -> None:
    def broken(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        raise RuntimeError("boom")

    stream = io.StringIO()
    with pytest.raises(RuntimeError):
        AccessLog(broken, stream)({"REQUEST_METHOD": "GET"}, lambda *args: None)
    [line] = stream.getvalue().splitlines()  # the server answers 500
    assert line.startswith("- - - [")
    assert '"GET  -" 500 - "-" "-"' in line


# -- hostile raw requests -------------------------------------------------------------------

#: An app with a body-reading route, for the raw requests below.
RAW_APP = """
from microapi import Api

api = Api()


@api.route("/hello", methods=["GET", "POST"])
def hello(req, res):
    return {"hello": "world"}


@api.route("/echo", methods=["POST"])
def echo(req, res):
    return {"bytes": len(req.get_data())}


@api.route("/form", methods=["POST"])
def form(req, res):
    return {"form": dict(req.form)}
"""

#: Requests no client should send; each server must answer < 500 or close.
HOSTILE = {
    "garbage request line": b"GARBAGE\r\n\r\n",
    "method not a token": b"G E T /hello HTTP/1.1\r\nHost: x\r\n\r\n",
    "unknown version": b"GET /hello HTTP/9.9\r\nHost: x\r\n\r\n",
    "header without colon": b"GET /hello HTTP/1.1\r\nHost: x\r\nBad\r\n\r\n",
    "control in a header": b"GET /hello HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n",
    "space before colon": b"GET /hello HTTP/1.1\r\nHost : x\r\n\r\n",
    "obsolete line folding": b"GET /hello HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
    "a 70 kB header": b"GET /hello HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 70_000 + b"\r\n\r\n",
    "200 headers": b"GET /hello HTTP/1.1\r\nHost: x\r\n"
    + b"".join(b"X-%d: 1\r\n" % n for n in range(200))
    + b"\r\n",
    "a 20 kB target": b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "NUL in the path": b"GET /he\x00llo HTTP/1.1\r\nHost: x\r\n\r\n",
    "raw UTF-8 in the path": "GET /héllo HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
    "absolute form": b"GET http://evil.example/hello HTTP/1.1\r\nHost: x\r\n\r\n",
    "asterisk form": b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    "no Host": b"GET /hello HTTP/1.1\r\n\r\n",
    "bare LF": b"GET /hello HTTP/1.1\nHost: x\n\n",
    "two Content-Lengths": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
    b"Content-Length: 5\r\n\r\nabcde",
    "negative Content-Length": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "Content-Length and chunked": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "unknown transfer coding": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
    "chunked twice": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n"
    b"\r\n0\r\n\r\n",
    "body shorter than its length": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
    b"\r\nabc",
    "a SCRIPT_NAME header": b"GET /hello HTTP/1.1\r\nHost: x\r\nSCRIPT_NAME: 0\r\n\r\n",
    "a PATH_INFO header": b"GET /hello HTTP/1.1\r\nHost: x\r\nPATH_INFO: /echo\r\n\r\n",
}

#: Malformed chunked bodies, which the server hands to the app as a broken ``wsgi.input``.
_CHUNKED = b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
_CHUNKED += b"Transfer-Encoding: chunked\r\n\r\n"
BAD_CHUNKS = {
    "chunk size ZZZ": _CHUNKED + b"ZZZ\r\nabc\r\n0\r\n\r\n",
    "chunk size 0x2": _CHUNKED + b"0x2\r\nab\r\n0\r\n\r\n",
    "chunk size -1": _CHUNKED + b"-1\r\nab\r\n0\r\n\r\n",
    "chunk without its CRLF": _CHUNKED + b"3\r\nabcXY0\r\n\r\n",
}
HOSTILE.update(BAD_CHUNKS)


def exchange(address: tuple[str, int], raw: bytes, half_close: bool = False) -> bytes:
    """Send *raw*; everything the server answers until it closes or 2 s pass quietly."""
    import socket

    received = b""
    with socket.create_connection(address, timeout=2) as sock:
        sock.sendall(raw)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + 10  # bounded, however the server trickles
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                break
            if not data:
                break
            received += data
    return received


def statuses(received: bytes) -> list[int]:
    """The status of each response in *received* (bodies here never look like status lines)."""
    return [int(status) for status in re.findall(rb"HTTP/1\.[01] (\d{3}) ", received)]


@pytest.fixture(scope="module", params=["gunicorn", "granian"])
def raw_server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Any]:
    directory = tmp_path_factory.mktemp("raw")
    with serving_source(directory, "raw_app", RAW_APP, request.param) as served:
        yield served


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_request_is_never_a_5xx(raw_server: Any, name: str) -> None:
    half_close = name == "body shorter than its length"
    answered = statuses(exchange(raw_server.address, HOSTILE[name], half_close))
    assert len(answered) <= 1, answered  # one request, at most one answer
    assert all(status < 500 for status in answered), answered
    assert "Traceback" not in raw_server.text()


def test_pipelined_requests_are_answered_in_order(raw_server: Any) -> None:
    raw = b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
    raw += b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
    received = exchange(raw_server.address, raw)
    assert statuses(received) == [200, 404, 200]
    assert received.endswith(b'{"bytes":3}')


@pytest.mark.parametrize("header", [b"SCRIPT_NAME: /mounted", b"PATH_INFO: /echo"])
def test_a_client_header_does_not_move_the_path(raw_server: Any, header: bytes) -> None:
    # gunicorn would take SCRIPT_NAME and PATH_INFO from these headers (its
    # forwarder_headers, trusted from 127.0.0.1); microapi serve turns that off.
    raw = b"GET /hello HTTP/1.1\r\nHost: x\r\n%s\r\nConnection: close\r\n\r\n" % header
    received = exchange(raw_server.address, raw)
    assert statuses(received) == [200], received
    assert received.endswith(b'{"hello":"world"}')


def test_a_body_shorter_than_its_length_is_400(raw_server: Any) -> None:
    received = exchange(raw_server.address, HOSTILE["body shorter than its length"], True)
    assert statuses(received) == [400]
    assert b"application/problem+json" in received.lower()


# NOTE: gunicorn only: granian ends the body at the break (the test below).
@pytest.mark.parametrize("raw_server", ["gunicorn"], indirect=True)
@pytest.mark.parametrize("name", list(BAD_CHUNKS))
def test_a_malformed_chunked_body_is_400_on_gunicorn(raw_server: Any, name: str) -> None:
    # gunicorn raises its own ParseException subclasses (InvalidChunkSize,
    # ChunkMissingTerminator...) from wsgi.input, which are not OSError.
    received = exchange(raw_server.address, BAD_CHUNKS[name])
    assert statuses(received) == [400], received
    assert b"application/problem+json" in received.lower()
    assert "Traceback" not in raw_server.text()
    assert "[ERROR]" not in raw_server.text()


def test_granian_ends_a_malformed_chunked_body_where_it_breaks(tmp_path: Path) -> None:
    # NOTE: a difference of granian's, shown rather than hidden: its
    # wsgi.input reports a broken chunk as the end of the body, so the app
    # cannot tell it from a short, well-formed body (gunicorn raises, and
    # microapi answers 400). A JSON body cut short fails to parse (400); a form
    # cut at a field boundary reads as the fields before the break.
    head = b"POST /form HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n"
    head += b"Content-Type: application/x-www-form-urlencoded\r\n\r\n"
    with serving_source(tmp_path, "raw_app", RAW_APP, "granian") as served:
        received = exchange(served.address, head + b"3\r\na=1\r\nZZZ\r\n&b=2\r\n0\r\n\r\n")
    assert statuses(received) == [200]
    assert received.endswith(b'{"form":{"a":"1"}}')
