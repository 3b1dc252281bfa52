"""The ``microapi`` command: as installed (subprocesses) and ``main()`` in-process."""

from __future__ import annotations

import http.client
import importlib
import json
import os
import runpy
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import microapi
from microapi import Api
from microapi.cli import ACCESS_LOG_FORMAT, main
from microapi.testing import TestClient
from tests.helpers import stop

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).with_name("microapi")
STARTUP_SECONDS = 20

HELLO_ROUTES = [
    {
        "methods": ["GET"],
        "path": "/api/hello",
        "name": "hello",
        "handler": "examples.hello.wsgi:hello",
        "middleware": ["examples.hello.wsgi:timing"],
    },
    {
        "methods": ["GET", "PUT", "DELETE"],
        "path": "/api/users/[id]",
        "name": "user",
        "handler": "examples.hello.wsgi:user",
        # admin_only's /api/admin/:path* can never accept /api/users/<id>.
        "middleware": ["examples.hello.wsgi:timing"],
    },
    {
        "methods": ["GET"],
        "path": "/api/admin/stats",
        "name": "stats",
        "handler": "examples.hello.wsgi:stats",
        "middleware": ["examples.hello.wsgi:timing", "examples.hello.wsgi:admin_only"],
    },
    {
        "methods": ["POST"],
        "path": "/api/echo",
        "name": "echo",
        "handler": "examples.hello.wsgi:echo",
        "middleware": ["examples.hello.wsgi:timing"],
    },
]

FACTORIES = """
    from microapi import Api

    def create_api(version="v1", *, prefix="/api"):
        api = Api()
        api.add_route(f"{prefix}/{version}", lambda req, res: {"version": version}, name="v")
        return api

    def broken():
        raise RuntimeError("no settings\\nfound")

    def forgetful():
        Api()

    def silent():
        raise LookupError

    def needs(settings):
        return Api()

    def legacy(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"legacy"]

    class Holder:
        api = create_api("held")

    api = create_api()
    other = create_api("other")
    USERS = {"ada": 1}
"""


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("WEB_CONCURRENCY", None)
    # gunicorn's control socket goes to $XDG_RUNTIME_DIR: one per test, not the home directory.
    env["XDG_RUNTIME_DIR"] = str(tmp_path)
    return env


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run the installed console script."""
    return subprocess.run(
        [str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False
    )


def assert_one_line_error(result: Any, *fragments: str) -> str:
    """Exit status 2, one line on stderr naming *fragments*, no traceback."""
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("microapi: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    message: str = lines[0]
    return message


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project directory as the current directory; its modules forgotten afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    importlib.invalidate_caches()
    yield tmp_path
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


def write(project: Path, name: str, source: str) -> None:
    path = project / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))


class Outcome:
    """What ``main()`` returned and printed."""

    def __init__(self, returncode: int, capsys: pytest.CaptureFixture[str]) -> None:
        captured = capsys.readouterr()
        self.returncode = returncode
        self.stdout = captured.out
        self.stderr = captured.err


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> Outcome:
    return Outcome(main(list(args)), capsys)


# -- the installed command ---------------------------------------------------------------


def test_routes_table_from_the_console_script() -> None:
    result = cli("routes", "examples.hello.wsgi:api")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["Methods", "Path", "Name", "Handler", "Middleware"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].split() == [
        "GET",
        "/api/hello",
        "hello",
        "examples.hello.wsgi:hello",
        "examples.hello.wsgi:timing",
    ]
    assert lines[3].split()[:4] == [
        "GET,PUT,DELETE",
        "/api/users/[id]",
        "user",
        "examples.hello.wsgi:user",
    ]
    assert lines[3].endswith("examples.hello.wsgi:user   examples.hello.wsgi:timing")
    # Columns line up: every path starts where the header's "Path" does.
    column = lines[0].index("Path")
    assert all(line[column] == "/" for line in lines[2:])
    assert len(lines) == 2 + len(HELLO_ROUTES)
    assert result.stderr == ""


def test_routes_json_from_the_console_script() -> None:
    result = cli("routes", "examples.hello.wsgi:api", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == HELLO_ROUTES


def test_openapi_of_the_hello_example_from_the_console_script() -> None:
    result = cli("openapi", "examples.hello.wsgi:api")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["openapi"] == "3.1.0"
    assert "/api/users/{id}" in document["paths"]
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["routes", "nope:api"], ["cannot import 'nope'", "no module named 'nope'"]),
        (["routes", "examples.nope:api"], ["no module named 'examples.nope'"]),
        (["routes", "examples.hello.wsgi:app"], ["no attribute 'app'", "examples.hello.wsgi:api"]),
        (["run", "examples.hello.wsgi:USERS"], ["is a dict, not a WSGI app"]),
        (["routes", "examples.embed.wsgi:site"], ["routes needs a microapi Api"]),
        (["serve", "examples/hello/wsgi.py"], ["not a file", "'examples.hello.wsgi:api'"]),
        (["routes", "examples.hello.wsgi:"], ["is not MODULE:NAME"]),
    ],
)
def test_bad_app_from_the_console_script_is_one_line_and_status_2(
    args: list[str], fragments: list[str]
) -> None:
    result = cli(*args)
    assert_one_line_error(result, *fragments)
    assert result.stdout == ""


def test_an_error_inside_the_app_module_names_it_in_one_line(tmp_path: Path) -> None:
    write(tmp_path, "shaky.py", "from microapi import Api\n\nLIMIT = 1 / 0\napi = Api()\n")
    result = cli("routes", "shaky:api", cwd=tmp_path)
    assert_one_line_error(
        result, "error while importing 'shaky'", "ZeroDivisionError: division by zero", "shaky.py:3"
    )


def test_version_from_the_console_script() -> None:
    result = cli("--version")
    assert result.returncode == 0
    assert result.stdout.startswith(f"microapi {microapi.__version__} (Python ")


def test_python_dash_m_microapi() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "microapi", "routes", "examples.hello.wsgi:api", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == HELLO_ROUTES


def test_python_dash_m_microapi_in_process(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["microapi", "--version"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("microapi", run_name="__main__")
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("microapi ")


# -- servers over real HTTP on 127.0.0.1 ----------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@contextmanager
def server(args: list[str], cwd: Path, logs: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start the console script with *args*; always stop it (SIGTERM, then kill)."""
    with (logs / "stdout").open("wb") as stdout, (logs / "stderr").open("wb") as stderr:
        process = subprocess.Popen(
            [str(SCRIPT), *args], cwd=cwd, stdout=stdout, stderr=stderr, env=_env(logs)
        )
        try:
            yield process
        finally:
            stop(process)


def wait_until_answering(
    process: subprocess.Popen[bytes], port: int, path: str, logs: Path
) -> tuple[int, dict[str, str], bytes]:
    """Poll *path* until the server answers, at most STARTUP_SECONDS."""
    deadline = time.monotonic() + STARTUP_SECONDS
    for _ in range(STARTUP_SECONDS * 20):
        if process.poll() is not None or time.monotonic() > deadline:
            break
        try:
            return get(port, path)
        except OSError:  # not listening yet
            time.sleep(0.05)
    stderr = (logs / "stderr").read_text(errors="replace")
    raise AssertionError(f"the server did not answer {path}; exit {process.poll()}:\n{stderr}")


def test_serve_answers_over_http_with_an_access_log(tmp_path: Path) -> None:
    port = free_port()
    args = ["serve", "examples.hello.wsgi:api", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    with server(args, ROOT, tmp_path) as process:
        status, headers, body = wait_until_answering(process, port, "/api/hello", tmp_path)
    assert status == 200
    assert json.loads(body) == {"message": "Hello API!"}
    assert headers["Server"] == "gunicorn"
    stderr = (tmp_path / "stderr").read_text()
    assert "Using worker: gthread" in stderr
    access = (tmp_path / "stdout").read_text()
    # No request_id() middleware in the example: the id is "-".
    assert '"GET /api/hello HTTP/1.1" 200 24' in access
    assert access.rstrip().endswith("request_id=-")


def test_serve_logs_the_response_request_id(tmp_path: Path) -> None:
    write(
        tmp_path,
        "ids.py",
        """
        from microapi import Api

        api = Api()

        @api.middleware
        def echo_id(req, res, next):  # what request_id() will do
            res.set_header("X-Request-ID", req.id)
            next()

        @api.route("/api/hello")
        def hello(req, res):
            return {"id": req.id}
        """,
    )
    port = free_port()
    args = ["serve", "ids", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "1"]
    with server(args, tmp_path, tmp_path) as process:
        status, headers, body = wait_until_answering(process, port, "/api/hello", tmp_path)
    assert status == 200
    request_id = json.loads(body)["id"]
    assert headers["X-Request-ID"] == request_id
    assert f"request_id={request_id}" in (tmp_path / "stdout").read_text()


def test_run_answers_over_http(tmp_path: Path) -> None:
    port = free_port()
    with server(["run", "examples.hello.wsgi:api", "--port", str(port)], ROOT, tmp_path) as process:
        status, headers, body = wait_until_answering(process, port, "/api/hello", tmp_path)
    assert status == 200
    assert json.loads(body) == {"message": "Hello API!"}
    assert headers["Server"].startswith("Werkzeug/")
    assert "Serving 'examples.hello.wsgi:api' (debug off)" in (tmp_path / "stderr").read_text()


HELLO = """
    from microapi import Api

    api = Api()

    @api.route("/api/hello")
    def hello(req, res):
        return {"message": "fixed"}
"""


def test_run_reload_waits_for_a_fix_when_the_app_does_not_import_at_start(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    write(project, "wsgi.py", "from microapi import Api\n\napi = Api(\n")
    port = free_port()
    with server(["run", "--reload", "--port", str(port)], project, tmp_path) as process:
        # It serves the error rather than exiting...
        status, _, body = wait_until_answering(process, port, "/api/hello", tmp_path)
        assert status == 500
        assert b"error while importing 'wsgi': SyntaxError" in body
        assert process.poll() is None
        stderr = (tmp_path / "stderr").read_text()
        assert "microapi: error: error while importing 'wsgi': SyntaxError" in stderr
        assert "Waiting for a fix" in stderr
        assert "Traceback" not in stderr
        # ...and once the file is fixed, the reloader restarts it with the app.
        write(project, "wsgi.py", HELLO)
        later = time.time() + 2  # a later mtime even on coarse-grained file systems
        os.utime(project / "wsgi.py", (later, later))
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            try:
                status, _, body = get(port, "/api/hello")
            except OSError:  # restarting
                status = 0
            if status == 200:
                break
            time.sleep(0.1)
        assert status == 200, (tmp_path / "stderr").read_text()
        assert json.loads(body) == {"message": "fixed"}


def test_bare_microapi_prints_help_and_the_app_it_finds(tmp_path: Path) -> None:
    write(tmp_path, "wsgi.py", HELLO)
    found = cli(cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    assert found.stdout.startswith("usage: microapi")
    assert "App: wsgi:api, found in " + str(tmp_path) in found.stdout
    (tmp_path / "wsgi.py").unlink()
    none = cli(cwd=tmp_path)
    assert none.returncode == 0
    assert "App: none found (no APP given, and no wsgi.py or app.py in " in none.stdout
    assert none.stderr == ""


def test_the_commands_find_the_app_when_app_is_left_out(tmp_path: Path) -> None:
    write(tmp_path, "app.py", HELLO)
    routes = cli("routes", "--json", cwd=tmp_path)
    assert routes.returncode == 0, routes.stderr
    assert [row["handler"] for row in json.loads(routes.stdout)] == ["app:hello"]
    port = free_port()
    args = ["serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    with server(args, tmp_path, tmp_path) as process:
        status, _, body = wait_until_answering(process, port, "/api/hello", tmp_path)
    assert (status, json.loads(body)) == (200, {"message": "fixed"})


# -- main() in-process: finding APP ---------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ("factories", "/api/v1"),  # the default attribute, api
        ("factories:other", "/api/other"),
        ("factories:create_api", "/api/v1"),  # a factory, called without arguments
        ("factories:create_api()", "/api/v1"),
        ("factories:create_api('v2')", "/api/v2"),
        ("factories:create_api('v3', prefix='/x')", "/x/v3"),
        ("factories:Holder.api", "/api/held"),
        ("pkg.sub.factories:api", "/api/v1"),
    ],
)
def test_app_specs(project: Path, capsys: pytest.CaptureFixture[str], spec: str, path: str) -> None:
    write(project, "factories.py", FACTORIES)
    write(project, "pkg/__init__.py", "")
    write(project, "pkg/sub/__init__.py", "")
    write(project, "pkg/sub/factories.py", FACTORIES)
    outcome = run_main(capsys, "routes", spec, "--json")
    assert outcome.returncode == 0, outcome.stderr
    assert [row["path"] for row in json.loads(outcome.stdout)] == [path]
    assert sys.path[0] == str(project)  # the current directory is importable


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["routes", "factories:missing"], ["no attribute 'missing'", "'factories:api', "]),
        (["routes", "factories:Holder.nope"], ["no attribute 'Holder.nope'"]),
        (["routes", "plain:api"], ["name your Api or its factory after the colon"]),
        (["routes", "factories:broken"], ["RuntimeError: no settings found", "factories.py:"]),
        (["run", "factories:needs"], ["takes (settings)", 'create_api("prod")']),
        (["routes", "factories:create_api(version)"], ["must be Python literals"]),
        (["routes", "factories:create_api(**{})"], ["must be Python literals"]),
        (["routes", "factories:USERS()"], ["USERS is not callable"]),
        (["routes", "factories:create_api()()"], ["is not MODULE:NAME"]),
        (["routes", "factories:1"], ["is not MODULE:NAME"]),
        (["routes", "fac-tories:api"], ["is not MODULE:NAME"]),
        (["routes", "factories.py"], ["not a file", "'factories:api'"]),
        (["routes", "pkg/sub/factories.py:other"], ["'pkg.sub.factories:other'"]),
        (["routes", "nopkg.sub:api"], ["no module named 'nopkg'"]),
        (["routes", "needs_dep"], ["error while importing 'needs_dep'", "not_installed_dep"]),
        (["routes", "bad_syntax"], ["SyntaxError", "bad_syntax.py, line 1"]),
        (["routes", "factories:legacy"], ["routes needs a microapi Api", "a function"]),
        (["openapi", "factories:USERS"], ["openapi needs a microapi Api", "a dict"]),
        (["serve", "factories:USERS"], ["is a dict, not a WSGI app"]),
        (["serve", "factories:forgetful"], ["'factories:forgetful' is None, not a WSGI app"]),
        (["serve", "factories:silent"], ["calling the factory", "LookupError (factories.py:"]),
        (["routes", "factories:api\0"], ["is not MODULE:NAME"]),
    ],
)
def test_bad_app_in_process(
    project: Path, capsys: pytest.CaptureFixture[str], args: list[str], fragments: list[str]
) -> None:
    write(project, "factories.py", FACTORIES)
    write(project, "plain.py", "VALUE = 1\n")
    write(project, "needs_dep.py", "import not_installed_dep\n")
    write(project, "bad_syntax.py", "def f(:\n")
    write(project, "pkg/__init__.py", "")
    write(project, "pkg/sub/__init__.py", "")
    write(project, "pkg/sub/factories.py", FACTORIES)
    assert_one_line_error(run_main(capsys, *args), *fragments)


DISCOVERED = """
    from microapi import Api

    def create_app():
        api = Api()
        api.add_route("/from-factory", lambda req, res: {}, name="factory")
        return api
"""


@pytest.mark.parametrize(
    ("files", "spec"),
    [
        ({"wsgi.py": FACTORIES}, "wsgi:api"),
        # wsgi.py comes first, as with flask run.
        ({"wsgi.py": FACTORIES, "app.py": DISCOVERED}, "wsgi:api"),
        ({"app.py": FACTORIES}, "app:api"),
        # An app named app, as Flask users write it.
        ({"app.py": "from microapi import Api\napp = Api()\n"}, "app:app"),
        ({"app.py": DISCOVERED}, "app:create_app()"),
        ({"wsgi.py": DISCOVERED.replace("create_app", "create_api")}, "wsgi:create_api()"),
        # A wsgi.py without an app: app.py is tried next.
        ({"wsgi.py": "VALUE = 1\n", "app.py": DISCOVERED}, "app:create_app()"),
    ],
)
def test_discovery_without_app(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    fake_run_simple: Recorded,
    files: dict[str, str],
    spec: str,
) -> None:
    for name, source in files.items():
        write(project, name, source)
    outcome = run_main(capsys, "run")
    assert outcome.returncode == 0, outcome.stderr
    assert f"Serving {spec!r}" in outcome.stderr
    assert isinstance(fake_run_simple.calls[0]["app"], Api)


def test_a_discovered_factory_is_called_and_its_routes_listed(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project, "app.py", DISCOVERED)
    outcome = run_main(capsys, "routes", "--json")
    assert [row["path"] for row in json.loads(outcome.stdout)] == ["/from-factory"]
    assert json.loads(run_main(capsys, "openapi").stdout)["paths"].keys() == {"/from-factory"}


@pytest.mark.parametrize(
    ("files", "fragments"),
    [
        ({}, ["no APP given, and no wsgi.py or app.py in", "MODULE:NAME"]),
        ({"wsgi.py": "VALUE = 1\n"}, ["wsgi.py in", "named api or app", "create_app"]),
        (
            {"wsgi.py": "VALUE = 1\n", "app.py": "X = 2\n"},
            ["wsgi.py nor app.py in", "create_api"],
        ),
        ({"wsgi.py": "import not_installed_dep\n"}, ["error while importing 'wsgi'"]),
        (
            {"app.py": "def create_app():\n    raise RuntimeError('no DATABASE_URL')\n"},
            ["'app:create_app()'", "RuntimeError: no DATABASE_URL"],
        ),
    ],
)
def test_discovery_failures_are_one_line(
    project: Path, capsys: pytest.CaptureFixture[str], files: dict[str, str], fragments: list[str]
) -> None:
    for name, source in files.items():
        write(project, name, source)
    assert_one_line_error(run_main(capsys, "routes"), *fragments)


def test_bare_microapi_in_process_says_what_it_would_load(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project, "wsgi.py", "import not_installed_dep\n")
    outcome = run_main(capsys)
    assert outcome.returncode == 0
    assert "usage: microapi" in outcome.stdout
    assert "App: none found (error while importing 'wsgi'" in outcome.stdout


# -- main() in-process: commands --------------------------------------------------------


def test_routes_lists_router_routes_and_their_middleware(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        project,
        "wsgi.py",
        """
        from microapi import Api, Router

        api = Api()
        todos = Router(prefix="/todos", name="todos")

        @api.middleware(match="/todos/:path*")
        def outer(req, res, next):
            next()

        @todos.middleware
        def inner(req, res, next):
            next()

        @todos.route("/", methods=["POST", "GET"])
        def index(req, res):
            return []

        @api.route("/health", methods=["options", "delete", "head", "patch", "put"])
        def health(req, res):
            return "ok"

        api.include(todos)
        """,
    )
    outcome = run_main(capsys, "routes", "wsgi:api", "--json")
    assert outcome.returncode == 0, outcome.stderr
    assert json.loads(outcome.stdout) == [
        {
            "methods": ["HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"],
            "path": "/health",
            "name": "health",
            "handler": "wsgi:health",
            "middleware": [],
        },
        {
            "methods": ["GET", "POST"],
            "path": "/todos",
            "name": "todos.index",
            "handler": "wsgi:index",
            "middleware": ["wsgi:outer", "wsgi:inner"],
        },
    ]
    table = run_main(capsys, "routes", "wsgi:api").stdout.splitlines()
    assert table[2].split() == [
        "HEAD,PUT,PATCH,DELETE,OPTIONS",
        "/health",
        "health",
        "wsgi:health",
        "-",
    ]


def test_routes_lists_only_the_middleware_that_applies_with_readable_names(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        project,
        "wsgi.py",
        """
        import functools

        from microapi import Api
        from microapi.middleware import bearer_auth, csrf, rate_limit

        def create_api():
            api = Api(secret_key="k" * 32)
            api.middleware(csrf())
            api.middleware(bearer_auth(), match="/admin/:path*")
            api.middleware(rate_limit("5/minute"), match="/api/:id(\\\\d+)")

            @api.route("/api/<id>")
            def item(req, res):
                return {}

            @api.route("/admin/users/<int:id>")
            def admin_user(req, res):
                return {}

            def page(req, res, *, size):
                return {}

            api.add_route("/pages/<int:n>", functools.partial(page, size=10), name="pages")
            api.discover("./routes", prefix="/files")
            return api
        """,
    )
    write(project, "routes/[slug].py", "def GET(req, res):\n    return {}\n")
    outcome = run_main(capsys, "routes", "--json")
    assert outcome.returncode == 0, outcome.stderr
    rows = {row["path"]: row for row in json.loads(outcome.stdout)}
    assert rows["/api/<id>"]["handler"] == "wsgi:item"
    # rate_limit may match /api/<id> (for digits): decided per request.
    assert rows["/api/<id>"]["middleware"] == [
        "microapi.middleware:csrf()",
        "microapi.middleware:rate_limit('5/minute')",
    ]
    assert rows["/admin/users/<int:id>"]["middleware"] == [
        "microapi.middleware:csrf()",
        "microapi.middleware:bearer_auth()",
    ]
    assert rows["/pages/<int:n>"] | {"middleware": None} == {
        "methods": ["GET"],
        "path": "/pages/<int:n>",
        "name": "pages",
        "handler": "partial(wsgi:page)",
        "middleware": None,
    }
    assert rows["/pages/<int:n>"]["middleware"] == ["microapi.middleware:csrf()"]
    # A discovered file is named by its path, not its generated module.
    assert rows["/files/[slug]"]["handler"] == "routes/[slug].py:GET"
    assert "<locals>" not in outcome.stdout
    assert " at 0x" not in outcome.stdout


def test_routes_of_an_empty_api(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project, "wsgi.py", "from microapi import Api\napi = Api()\n")
    assert run_main(capsys, "routes", "wsgi:api").stdout == "No routes in 'wsgi:api'.\n"
    assert run_main(capsys, "routes", "wsgi:api", "--json").stdout == "[]\n"


FAKE_OPENAPI = """
    class WithOpenApi:
        # Not an Api, but it has openapi(): a wrapper, say.
        def openapi(self):
            return {"openapi": "3.1.0", "info": {"title": "Café", "version": "1"}, "paths": {}}

    api = WithOpenApi()
"""


def test_openapi_prints_the_document(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project, "wsgi.py", FAKE_OPENAPI)
    outcome = run_main(capsys, "openapi", "wsgi:api")
    assert outcome.returncode == 0, outcome.stderr
    assert json.loads(outcome.stdout)["info"]["title"] == "Café"
    assert outcome.stdout.endswith("}\n")


def test_openapi_writes_a_file(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project, "wsgi.py", FAKE_OPENAPI)
    outcome = run_main(capsys, "openapi", "wsgi:api", "--output", "openapi.json")
    assert (outcome.returncode, outcome.stdout, outcome.stderr) == (0, "", "")
    document = json.loads((project / "openapi.json").read_text(encoding="utf-8"))
    assert document["openapi"] == "3.1.0"


def test_openapi_to_an_unwritable_file(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project, "wsgi.py", FAKE_OPENAPI)
    outcome = run_main(capsys, "openapi", "wsgi:api", "-o", "missing/dir/openapi.json")
    assert outcome.returncode == 1
    assert outcome.stderr.startswith("microapi: error: cannot write missing/dir/openapi.json: ")
    assert len(outcome.stderr.splitlines()) == 1


def test_openapi_of_an_api_in_process(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project, "wsgi.py", "from microapi import Api\napi = Api(title='Café')\n")
    outcome = run_main(capsys, "openapi", "wsgi:api")
    assert outcome.returncode == 0, outcome.stderr
    document = json.loads(outcome.stdout)
    assert document["info"] == {"title": "Café", "version": "0.1.0"}
    assert document["paths"] == {}


class Recorded:
    """Arguments a fake server was started with."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []


@pytest.fixture
def fake_run_simple(monkeypatch: pytest.MonkeyPatch) -> Recorded:
    recorded = Recorded()

    def run_simple(host: str, port: int, app: Any, **options: Any) -> None:
        recorded.calls.append({"host": host, "port": port, "app": app, **options})

    monkeypatch.setattr("werkzeug.serving.run_simple", run_simple)
    return recorded


def test_run_options(
    project: Path, capsys: pytest.CaptureFixture[str], fake_run_simple: Recorded
) -> None:
    write(project, "wsgi.py", FACTORIES)
    outcome = run_main(capsys, "run", "wsgi", "--host", "::1", "--port", "0", "--reload", "--debug")
    assert outcome.returncode == 0
    [call] = fake_run_simple.calls
    app = call.pop("app")
    assert call == {"host": "::1", "port": 0, "use_reloader": True, "threaded": True}
    assert isinstance(app, Api)
    assert app.debug is True
    assert "(debug on)" in outcome.stderr


def test_run_defaults_and_a_plain_wsgi_app(
    project: Path, capsys: pytest.CaptureFixture[str], fake_run_simple: Recorded
) -> None:
    write(project, "wsgi.py", FACTORIES)
    outcome = run_main(capsys, "run", "wsgi:legacy", "--debug")
    assert outcome.returncode == 0
    [call] = fake_run_simple.calls
    assert (call["host"], call["port"], call["use_reloader"]) == ("127.0.0.1", 8000, False)
    # A WSGI function is served as it is, not called as a factory.
    assert TestClient(call["app"]).get("/").get_data() == b"legacy"
    assert outcome.stderr.startswith("microapi: warning: --debug has no effect")


def test_run_accepts_a_callable_whose_signature_is_unknown(
    project: Path, capsys: pytest.CaptureFixture[str], fake_run_simple: Recorded
) -> None:
    # A C-implemented WSGI app may have no signature: it is given the benefit of the doubt.
    write(project, "wsgi.py", "import math\n\nopaque = math.hypot\n")
    assert run_main(capsys, "run", "wsgi:opaque").returncode == 0
    assert fake_run_simple.calls[0]["app"].__name__ == "hypot"


def test_run_in_the_reloader_keeps_serving_a_broken_app(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    fake_run_simple: Recorded,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write(project, "wsgi.py", "from microapi import Api\n\napi = Api(\n")
    monkeypatch.setenv("WERKZEUG_RUN_MAIN", "true")  # the reloader's child process
    outcome = run_main(capsys, "run", "wsgi:api", "--reload", "--debug")
    assert outcome.returncode == 0
    assert outcome.stderr.startswith("microapi: error: error while importing 'wsgi': SyntaxError")
    assert "warning" not in outcome.stderr
    response = TestClient(fake_run_simple.calls[0]["app"]).get("/api/hello")
    assert response.status_code == 500
    assert "error while importing 'wsgi': SyntaxError" in response.get_data(as_text=True)
    # Without the reloader, the same error is fatal.
    assert run_main(capsys, "run", "wsgi:api").returncode == 2


@pytest.fixture
def fake_gunicorn(monkeypatch: pytest.MonkeyPatch) -> Recorded:
    from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

    recorded = Recorded()

    def run(self: Any) -> None:
        recorded.calls.append({"cfg": self.cfg, "app": self.wsgi()})

    monkeypatch.setattr(BaseApplication, "run", run)
    return recorded


def test_serve_defaults(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    fake_gunicorn: Recorded,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write(project, "wsgi.py", FACTORIES)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert run_main(capsys, "serve", "wsgi").returncode == 0
    [call] = fake_gunicorn.calls
    cfg = call["cfg"]
    assert isinstance(call["app"], Api)
    assert cfg.worker_class_str == "gthread"
    assert cfg.workers == 7  # 2 x 3 cores + 1
    assert (cfg.threads, cfg.timeout, cfg.bind) == (32, 30, ["127.0.0.1:8000"])
    assert (cfg.accesslog, cfg.access_log_format) == ("-", ACCESS_LOG_FORMAT)
    assert "%({x-request-id}o)s" in ACCESS_LOG_FORMAT
    assert cfg.preload_app is True


def test_serve_options(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    fake_gunicorn: Recorded,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write(project, "wsgi.py", FACTORIES)
    args = ["--workers", "3", "--threads", "5", "--timeout", "90"]
    binds = ["--bind", "127.0.0.1:9001", "--bind", "unix:/tmp/microapi.sock"]
    assert run_main(capsys, "serve", "wsgi:legacy", *args, *binds).returncode == 0
    cfg = fake_gunicorn.calls[0]["cfg"]
    assert (cfg.workers, cfg.threads, cfg.timeout) == (3, 5, 90)
    assert cfg.bind == ["127.0.0.1:9001", "unix:/tmp/microapi.sock"]
    monkeypatch.setenv("WEB_CONCURRENCY", "5")
    assert run_main(capsys, "serve", "wsgi").returncode == 0
    assert fake_gunicorn.calls[1]["cfg"].workers == 5


def test_serve_rejects_a_bad_web_concurrency(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    fake_gunicorn: Recorded,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write(project, "wsgi.py", FACTORIES)
    monkeypatch.setenv("WEB_CONCURRENCY", "lots")
    assert_one_line_error(run_main(capsys, "serve", "wsgi"), "WEB_CONCURRENCY", "'lots'")
    assert fake_gunicorn.calls == []


# -- main() in-process: the parser ----------------------------------------------------------


def test_help_reads_well(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_main(capsys, "--help")
    assert outcome.returncode == 0
    assert outcome.stdout.startswith("usage: microapi [-h] [--version] COMMAND ...")
    for text in ["run", "serve", "routes", "openapi", "MODULE:NAME", "examples:"]:
        assert text in outcome.stdout
    serve = run_main(capsys, "serve", "--help").stdout
    assert "X-Request-ID" in serve
    assert "2 x cores + 1" in " ".join(serve.split())


@pytest.mark.parametrize(
    "args",
    [
        ["launch", "wsgi:api"],
        ["serve", "wsgi:api", "--workers", "0"],
        ["serve", "wsgi:api", "--threads", "two"],
        ["run", "wsgi:api", "--port", "70000"],
    ],
)
def test_usage_errors_are_status_2(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    outcome = run_main(capsys, *args)
    assert outcome.returncode == 2
    assert outcome.stderr.startswith("usage: microapi")
    assert "error:" in outcome.stderr
