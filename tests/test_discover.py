"""File-system routes: layout → paths, exports, middleware, conflicts, imports."""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from microapi import Api, Router
from microapi.discover import discover
from microapi.testing import TestClient
from tests.helpers import assert_problem

PACKAGE = "discovertest_pkg"


@pytest.fixture(autouse=True)
def forget_discovered_modules() -> Iterator[None]:
    """Drop the modules a test imported from its tmp_path tree."""
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith(("_microapi_routes_", PACKAGE)):
            del sys.modules[name]


def write(root: Path, files: dict[str, str]) -> Path:
    """Create *files* (relative path → source, dedented) under *root*."""
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return root


ECHO = """
def handler(req, res):
    return {"route": req.route.name, "params": req.params, "method": req.method}
"""


# -- the mapping ---------------------------------------------------------------------


def test_files_map_to_paths(api: Api, client: TestClient, tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "index.py": ECHO,
            "hello.py": ECHO,
            "todos/index.py": ECHO,
            "todos/[id].py": ECHO,
            "docs/[...slug].py": ECHO,
            "shop/[[...slug]].py": ECHO,
            "orgs/[org]/repos/[repo].py": ECHO,
            "orgs/[org]/index.py": ECHO,
        },
    )
    api.discover(tmp_path)
    assert [(route.path, route.name) for route in api.routes()] == [
        ("/api/docs/[...slug]", "docs.[...slug]"),
        ("/api/hello", "hello"),
        ("/api", "index"),
        ("/api/orgs/[org]", "orgs.[org].index"),
        ("/api/orgs/[org]/repos/[repo]", "orgs.[org].repos.[repo]"),
        ("/api/shop/[[...slug]]", "shop.[[...slug]]"),
        ("/api/todos/[id]", "todos.[id]"),
        ("/api/todos", "todos.index"),
    ]
    expected = {
        "/api": ("index", {}),
        "/api/hello": ("hello", {}),
        "/api/todos": ("todos.index", {}),
        "/api/todos/42": ("todos.[id]", {"id": "42"}),
        "/api/docs/a/b/c": ("docs.[...slug]", {"slug": ["a", "b", "c"]}),
        "/api/shop": ("shop.[[...slug]]", {"slug": []}),
        "/api/shop/shoes/red": ("shop.[[...slug]]", {"slug": ["shoes", "red"]}),
        "/api/orgs/acme": ("orgs.[org].index", {"org": "acme"}),
        "/api/orgs/acme/repos/web": ("orgs.[org].repos.[repo]", {"org": "acme", "repo": "web"}),
    }
    for path, (name, params) in expected.items():
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.json == {"route": name, "params": params, "method": "GET"}
        # Every discovered route can be built back by its name.
        assert api.url_for(name, **params) == path
    assert_problem(client.get("/api/docs"), 404)  # a catch-all needs a segment
    assert_problem(client.get("/api/index"), 404)  # index.py is the folder itself
    assert client.get("/api/todos/").status_code == 308  # Next.js trailing slash


@pytest.mark.parametrize(
    ("prefix", "hello", "index"),
    [("", "/hello", "/"), ("/v1", "/v1/hello", "/v1"), ("/v/[version]", "/v/2/hello", "/v/2")],
)
def test_prefix(
    api: Api, client: TestClient, tmp_path: Path, prefix: str, hello: str, index: str
) -> None:
    write(tmp_path, {"hello.py": ECHO, "index.py": ECHO})
    api.discover(tmp_path, prefix=prefix)
    assert client.get(hello).json["route"] == "hello"
    assert client.get(index).json["route"] == "index"


@pytest.mark.parametrize("prefix", ["api", "/api/", 3])
def test_bad_prefix(api: Api, tmp_path: Path, prefix: Any) -> None:
    with pytest.raises(ValueError, match="must start with '/' and not end with '/'"):
        api.discover(tmp_path, prefix=prefix)


def test_file_names_that_are_not_identifiers(api: Api, client: TestClient, tmp_path: Path) -> None:
    write(tmp_path, {"hello-app.py": ECHO, "sitemap.xml.py": ECHO, "my folder/50%.py": ECHO})
    api.discover(tmp_path)
    assert client.get("/api/hello-app").json["route"] == "hello-app"
    assert client.get("/api/sitemap.xml").json["route"] == "sitemap.xml"
    assert client.get("/api/my%20folder/50%25").json["route"] == "my folder.50%"


# -- exports -------------------------------------------------------------------------


def test_handler_without_methods_answers_five_methods(
    api: Api, client: TestClient, tmp_path: Path
) -> None:
    write(tmp_path, {"hello.py": ECHO})
    api.discover(tmp_path)
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        response = client.open("/api/hello", method=method)
        assert response.json["method"] == method
    head = client.head("/api/hello")
    assert (head.status_code, head.data) == (200, b"")
    options = client.options("/api/hello")
    assert options.status_code == 204
    assert options.headers["Allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"


def test_methods_limit_a_handler(api: Api, client: TestClient, tmp_path: Path) -> None:
    write(tmp_path, {"users/[id].py": 'methods = ["GET", "PUT"]\n' + ECHO})
    api.discover(tmp_path)
    assert client.put("/api/users/1").json["method"] == "PUT"
    denied = client.post("/api/users/1")
    assert_problem(denied, 405)
    assert denied.headers["Allow"] == "GET, HEAD, OPTIONS, PUT"


def test_config_holds_route_options(api: Api, client: TestClient, tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "upload.py": """
                from marshmallow import Schema

                SCHEMA = Schema()  # schema options are checked since #4
                methods = ["POST"]
                config = {"name": "upload", "body_limit": 4, "query": SCHEMA}

                def handler(req, res):
                    return {"size": len(req.get_data())}
            """,
            "webhook.py": """
                config = {"body_parser": False}

                def POST(req, res):
                    return {"raw": req.stream.read().decode()}
            """,
        },
    )
    api.discover(tmp_path)
    route = next(route for route in api.routes() if route.path == "/api/upload")
    assert (route.name, route.body_limit) == ("upload", 4)
    assert route.query is sys.modules[route.handler.__module__].SCHEMA
    assert api.url_for("upload") == "/api/upload"
    assert client.post("/api/upload", data=b"1234").json == {"size": 4}
    assert_problem(client.post("/api/upload", data=b"12345"), 413)
    raw = client.post("/api/webhook", data='{"a": 1}', content_type="application/json")
    assert raw.json == {"raw": '{"a": 1}'}


def test_a_method_function_has_its_own_options(
    api: Api, client: TestClient, tmp_path: Path
) -> None:
    write(
        tmp_path,
        {
            "todos/[id].py": """
                from marshmallow import Schema, fields

                class Patch(Schema):
                    done = fields.Bool()

                config = {
                    "body_limit": 64,
                    "responses": {503: "Down."},
                    "PATCH": {"body": Patch, "body_limit": 32},
                    "DELETE": {"status": 204},
                }

                def PATCH(req, res):
                    return {"patched": req.body}

                def DELETE(req, res):
                    return res.end()
            """
        },
    )
    api.discover(tmp_path)
    patch, delete = api.routes()
    assert (patch.body_limit, delete.body_limit) == (32, 64)  # its own wins over the file's
    assert patch.body is not None
    assert delete.body is None  # a DELETE needs no body
    assert (delete.status, dict(delete.responses)) == (204, {503: "Down."})
    assert client.patch("/api/todos/1", json={"done": True}).json == {"patched": {"done": True}}
    assert_problem(client.patch("/api/todos/1", json={"done": "maybe"}), 422)
    assert client.delete("/api/todos/1").status_code == 204
    api.close()


def test_method_functions_are_routes(api: Api, client: TestClient, tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "todos/[id].py": """
                def GET(req, res):
                    return {"get": req.params["id"]}

                async def POST(req, res):
                    return {"received": req.body}, 201

                def DELETE(req, res):
                    return res.status(204).end()
            """
        },
    )
    api.discover(tmp_path)
    routes = api.routes()
    assert [sorted(route.methods) for route in routes] == [["GET"], ["POST"], ["DELETE"]]
    assert {route.name for route in routes} == {"todos.[id]"}
    assert client.get("/api/todos/7").json == {"get": "7"}
    created = client.post("/api/todos/7", json={"title": "x"})
    assert (created.status_code, created.json) == (201, {"received": {"title": "x"}})
    assert client.delete("/api/todos/7").status_code == 204
    assert client.head("/api/todos/7").status_code == 200
    put = assert_problem(client.put("/api/todos/7"), 405)
    assert put["title"] == "Method Not Allowed"
    assert api.url_for("todos.[id]", id=7) == "/api/todos/7"
    api.close()


def test_underscore_and_hidden_files_are_not_routes(
    api: Api, client: TestClient, tmp_path: Path
) -> None:
    write(
        tmp_path,
        {
            "_shared.py": 'GREETING = "hi"\n' + ECHO,
            "_lib/tool.py": ECHO,
            ".hidden.py": ECHO,
            ".cache/x.py": ECHO,
            "__pycache__/y.py": ECHO,
            "notes.txt": "not python",
            "types.pyi": "x: int",
            "hello.py": """
                from ._shared import GREETING

                def GET(req, res):
                    return {"greeting": GREETING}
            """,
            "todos/[id].py": """
                from .._shared import GREETING

                def GET(req, res):
                    return {"greeting": GREETING, "id": req.params["id"]}
            """,
        },
    )
    api.discover(tmp_path)
    assert sorted(route.path for route in api.routes()) == ["/api/hello", "/api/todos/[id]"]
    assert client.get("/api/hello").json == {"greeting": "hi"}
    assert client.get("/api/todos/1").json == {"greeting": "hi", "id": "1"}
    for path in ("/api/_shared", "/api/_lib/tool", "/api/.hidden", "/api/notes", "/api/types"):
        assert_problem(client.get(path), 404)


def test_discover_into_a_router(api: Api, client: TestClient, tmp_path: Path) -> None:
    write(tmp_path, {"hello.py": ECHO})
    router = Router(prefix="/v2")
    discover(router, tmp_path, prefix="")
    api.include(router)
    assert client.get("/v2/hello").json["route"] == "hello"


# -- middleware ----------------------------------------------------------------------


def trail_middleware(label: str) -> str:
    return f"""
def middleware(req, res, next):
    req.state.trail = [*req.state.trail, "{label}"]
    next()
    res.append_header("X-After", "{label}")
"""


TRAIL = """
def handler(req, res):
    return {"trail": req.state.trail}
"""


def test_folder_middleware_nests(api: Api, client: TestClient, tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "_middleware.py": """
                def first(req, res, next):
                    req.state.trail = [*req.state.trail, "root-1"]
                    next()

                def second(req, res, next):
                    req.state.trail = [*req.state.trail, "root-2"]
                    next()

                middleware = [first, second]
            """,
            "top.py": TRAIL,
            "a/_middleware.py": trail_middleware("a"),
            "a/index.py": TRAIL,
            "a/b/_middleware.py": trail_middleware("a/b"),
            "a/b/[id].py": TRAIL,
            "c/page.py": TRAIL,
        },
    )

    @api.middleware
    def outer(req: Any, res: Any, next: Any) -> None:
        req.state.trail = ["api"]
        next()

    api.discover(tmp_path)
    assert client.get("/api/top").json["trail"] == ["api", "root-1", "root-2"]
    assert client.get("/api/a").json["trail"] == ["api", "root-1", "root-2", "a"]
    inner = client.get("/api/a/b/1")
    assert inner.json["trail"] == ["api", "root-1", "root-2", "a", "a/b"]
    assert inner.headers.getlist("X-After") == ["a/b", "a"]  # an onion: inner returns first
    assert client.get("/api/c/page").json["trail"] == ["api", "root-1", "root-2"]


def test_folder_middleware_short_circuits(api: Api, client: TestClient, tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "private/_middleware.py": """
                from microapi import HTTPError

                async def middleware(req, res, next):
                    if req.headers.get("Authorization") != "Bearer yes":
                        raise HTTPError(401, "token required")
                    await next()
            """,
            "private/secret.py": """
                async def GET(req, res):
                    return {"secret": 42}
            """,
            "public.py": "def GET(req, res):\n    return {'public': True}\n",
        },
    )
    api.discover(tmp_path)
    assert_problem(client.get("/api/private/secret"), 401)
    ok = client.get("/api/private/secret", headers={"Authorization": "Bearer yes"})
    assert ok.json == {"secret": 42}
    # The automatic OPTIONS of a protected path is the folder's to answer too
    # (a request to the route); a wrong method is the Api's 405.
    assert_problem(client.options("/api/private/secret"), 401)
    options = client.options("/api/private/secret", headers={"Authorization": "Bearer yes"})
    assert options.status_code == 204
    assert_problem(client.delete("/api/private/secret"), 405)
    assert client.get("/api/public").json == {"public": True}
    api.close()


def test_middleware_file_must_export_middleware(api: Api, tmp_path: Path) -> None:
    write(tmp_path, {"a/_middleware.py": "x = 1\n", "a/page.py": ECHO})
    with pytest.raises(ValueError, match="exports no middleware") as info:
        api.discover(tmp_path)
    assert str(tmp_path / "a" / "_middleware.py") in str(info.value)


@pytest.mark.parametrize("value", ["'not callable'", "[print, 3]", "{'a': print}"])
def test_middleware_must_be_callable(api: Api, tmp_path: Path, value: str) -> None:
    write(tmp_path, {"_middleware.py": f"middleware = {value}\n", "page.py": ECHO})
    with pytest.raises(TypeError, match="must be a function") as info:
        api.discover(tmp_path)
    assert str(tmp_path / "_middleware.py") in str(info.value)


def test_async_sync_async_chain_names_the_file(api: Api, tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "_middleware.py": "async def middleware(req, res, next):\n    await next()\n",
            "a/_middleware.py": "def middleware(req, res, next):\n    next()\n",
            "a/page.py": "async def GET(req, res):\n    return {}\n",
        },
    )
    with pytest.raises(TypeError, match="make it 'async def'") as info:
        api.discover(tmp_path)
    assert str(tmp_path / "a" / "page.py") in str(info.value)


# -- conflicts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("todos.py", "todos/index.py"),
        ("todos/[id].py", "todos/[slug].py"),
        ("todos/[id].py", "todos/[id]/index.py"),
        ("docs/index.py", "docs/[[...slug]].py"),
        ("docs/[...slug].py", "docs/[[...path]].py"),
        ("index.py", "[[...slug]].py"),
    ],
)
def test_two_files_for_one_route(api: Api, tmp_path: Path, first: str, second: str) -> None:
    write(tmp_path, {first: ECHO, second: ECHO})
    with pytest.raises(ValueError, match="two files for one route") as info:
        api.discover(tmp_path)
    assert str(tmp_path / first) in str(info.value)
    assert str(tmp_path / second) in str(info.value)
    assert api.routes() == []


def test_one_folder_one_dynamic_name(api: Api, tmp_path: Path) -> None:
    write(tmp_path, {"users/[id].py": ECHO, "users/[name]/posts.py": ECHO})
    with pytest.raises(ValueError, match=r"two dynamic names \(\[id\] and \[name\]\)") as info:
        api.discover(tmp_path)
    assert str(tmp_path / "users" / "[id].py") in str(info.value)
    assert str(tmp_path / "users" / "[name]" / "posts.py") in str(info.value)


def test_a_file_next_to_its_folder_is_fine(api: Api, client: TestClient, tmp_path: Path) -> None:
    write(tmp_path, {"todos.py": ECHO, "todos/[id].py": ECHO, "todos/done.py": ECHO})
    api.discover(tmp_path)
    assert client.get("/api/todos").json["route"] == "todos"
    assert client.get("/api/todos/1").json["route"] == "todos.[id]"
    assert client.get("/api/todos/done").json["route"] == "todos.done"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (ECHO + "\ndef GET(req, res):\n    return {}\n", "exports both handler and GET"),
        ("x = 1\n", "exports no handler"),
        ("methods = ['GET']\ndef GET(req, res):\n    return {}\n", "methods applies to handler"),
        ("config = {'bodyParser': False}\n" + ECHO, r"unknown config keys \['bodyParser'\]"),
        ("handler = 'hello'\n", "handler 'hello' is not callable"),
        ("methods = 'GET'\n" + ECHO, "methods must be a list"),
        ("methods = ['FETCH']\n" + ECHO, r"unknown methods \['FETCH'\]"),
        ("config = {'body_limit': -1}\n" + ECHO, "body_limit must be a non-negative int"),
        ("config = {'GET': {}}\n" + ECHO, r"config\['GET'\] holds options for the GET function"),
        (
            "config = {'POST': {}}\ndef GET(req, res):\n    return {}\n",
            r"config\['POST'\] holds options for the POST function, which the file",
        ),
        (
            "config = {'GET': {'name': 'x'}}\ndef GET(req, res):\n    return {}\n",
            r"unknown config\['GET'\] keys \['name'\]",
        ),
        (
            "config = {'GET': 3}\ndef GET(req, res):\n    return {}\n",
            r"config\['GET'\] must be a dict",
        ),
        ("config = {'responses': {99: 'x'}}\n" + ECHO, "responses= keys must be statuses"),
    ],
)
def test_bad_exports_name_the_file(api: Api, tmp_path: Path, source: str, message: str) -> None:
    write(tmp_path, {"todos/[id].py": source})
    with pytest.raises((ValueError, TypeError), match=message) as info:
        api.discover(tmp_path)
    assert str(tmp_path / "todos" / "[id].py") in str(info.value)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("config = ['name']\n", "config must be a dict of route options, not list"),
        ("config = {'name': ''}\n", "config\\['name'\\] must be a non-empty string"),
        ("config = {'name': 3}\n", "config\\['name'\\] must be a non-empty string"),
    ],
)
def test_bad_config_types(api: Api, tmp_path: Path, source: str, message: str) -> None:
    write(tmp_path, {"hello.py": source + ECHO})
    with pytest.raises(TypeError, match=message) as info:
        api.discover(tmp_path)
    assert str(tmp_path / "hello.py") in str(info.value)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("[1id].py", "is not a dynamic segment"),
        ("[id-x].py", "is not a dynamic segment"),
        ("[...].py", "is not a dynamic segment"),
        ("[[id]].py", "is not a dynamic segment"),
        ("[ñ].py", "is not a dynamic segment"),
        ("post-[id].py", "is not a dynamic segment"),
        ("[id.py", "is not a dynamic segment"),
        ("[a b]/x.py", "is not a dynamic segment"),
        ("[...slug]/x.py", "a catch-all must be the last segment"),
        ("[id]/[id].py", "parameter 'id' is used twice"),
    ],
)
def test_bad_brackets_name_the_file(api: Api, tmp_path: Path, name: str, message: str) -> None:
    write(tmp_path, {name: ECHO})
    with pytest.raises(ValueError, match=message) as info:
        api.discover(tmp_path)
    assert str(tmp_path / name) in str(info.value)


def test_catch_all_folder_with_an_index(api: Api, client: TestClient, tmp_path: Path) -> None:
    write(tmp_path, {"docs/[...slug]/index.py": ECHO})
    api.discover(tmp_path)
    assert client.get("/api/docs/a/b").json["params"] == {"slug": ["a", "b"]}
    assert api.url_for("docs.[...slug].index", slug=["a"]) == "/api/docs/a"


def test_two_files_with_one_name(api: Api, tmp_path: Path) -> None:
    write(tmp_path, {"a.b.py": ECHO, "a/b.py": ECHO})
    with pytest.raises(ValueError, match=r"are both named 'a\.b'") as info:
        api.discover(tmp_path)
    assert str(tmp_path / "a.b.py") in str(info.value)
    assert str(tmp_path / "a" / "b.py") in str(info.value)


def test_config_name_taken_by_another_file(api: Api, tmp_path: Path) -> None:
    write(tmp_path, {"one.py": "config = {'name': 'two'}\n" + ECHO, "two.py": ECHO})
    with pytest.raises(ValueError, match="are both named 'two'"):
        api.discover(tmp_path)


def test_conflict_with_a_registered_route(api: Api, tmp_path: Path) -> None:
    @api.route("/api/hello")
    def hello(req: Any, res: Any) -> dict[str, str]:
        return {}

    write(tmp_path, {"hello.py": "config = {'name': 'discovered'}\n" + ECHO})
    with pytest.raises(ValueError, match="GET /api/hello is already registered") as info:
        api.discover(tmp_path)
    assert str(tmp_path / "hello.py") in str(info.value)


# -- importing -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "cause"),
    [
        ("def handler(req, res)\n    pass\n", SyntaxError),
        ("raise RuntimeError('boom at import')\n", RuntimeError),
        ("import discovertest_no_such_module\n", ModuleNotFoundError),
    ],
)
@pytest.mark.parametrize(
    ("file", "module"),
    [
        ("todos/[id].py", ".todos.[id]"),  # found by the import system
        ("docs/[...slug].py", ".docs.[%2E%2E%2Eslug]"),  # loaded from its file
    ],
)
def test_import_errors_name_the_file(
    api: Api, tmp_path: Path, source: str, cause: type[Exception], file: str, module: str
) -> None:
    write(tmp_path, {"good.py": ECHO, file: source})
    with pytest.raises(ImportError, match="cannot import") as info:
        api.discover(tmp_path)
    assert str(tmp_path / file) in str(info.value)
    assert isinstance(info.value.__cause__, cause)
    # Nothing was registered, and nothing half-imported stays behind.
    assert api.routes() == []
    assert not [
        name
        for name, loaded in list(sys.modules.items())
        if name.endswith(module) and getattr(loaded, "__file__", None) == str(tmp_path / file)
    ]
    # Fixed, the file is imported again.
    write(tmp_path, {file: ECHO})
    api.discover(tmp_path)
    assert len(api.routes()) == 2


COUNTED = """
import os

# Every execution of the module leaves a line in the log.
with open(os.environ["DISCOVER_TEST_LOG"], "a") as log:
    log.write(__name__ + "\\n")

def handler(req, res):
    return {"module": __name__, "route": req.route.name}
"""


@pytest.fixture
def imports_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The log COUNTED modules append their name to when they run."""
    log = tmp_path / "imports.log"
    log.touch()
    monkeypatch.setenv("DISCOVER_TEST_LOG", str(log))
    return log


def logged(log: Path) -> list[str]:
    return sorted(log.read_text().splitlines())


def test_a_directory_is_imported_once(tmp_path: Path, imports_log: Path) -> None:
    folder = write(tmp_path / "api", {"hello.py": COUNTED, "todos/[id].py": COUNTED})
    first, second = Api(), Api()
    first.discover(folder)
    second.discover(str(folder / ".." / "api"))  # the same folder, spelled differently
    modules = [route.handler.__module__ for route in second.routes()]
    assert [route.handler.__module__ for route in first.routes()] == modules
    assert logged(imports_log) == sorted(modules)
    assert TestClient(second).get("/api/todos/1").json["route"] == "todos.[id]"


def test_directories_with_one_name_get_their_own_modules(tmp_path: Path, imports_log: Path) -> None:
    one = write(tmp_path / "one" / "api", {"hello.py": COUNTED})
    two = write(tmp_path / "two" / "api", {"hello.py": "config = {'name': 'hello2'}\n" + COUNTED})
    api = Api()
    api.discover(one, prefix="/one")
    discover(api, two, prefix="/two")
    client = TestClient(api)
    first, second = client.get("/one/hello").json, client.get("/two/hello").json
    assert (first["route"], second["route"]) == ("hello", "hello2")
    assert first["module"] != second["module"]
    assert logged(imports_log) == sorted([first["module"], second["module"]])


def make_package(root: Path, files: dict[str, str]) -> Path:
    return write(root / PACKAGE, {"__init__.py": "", **files})


def test_a_package_is_imported_once(
    api: Api,
    client: TestClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    imports_log: Path,
) -> None:
    make_package(
        tmp_path,
        {
            "hello.py": COUNTED,
            "todos/index.py": COUNTED,
            "todos/[id].py": COUNTED,
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    hello = importlib.import_module(f"{PACKAGE}.hello")  # imported normally first
    api.discover(PACKAGE)
    Api().discover(sys.modules[PACKAGE])  # and again, by module object
    from discovertest_pkg.todos import index  # type: ignore[import-not-found]

    assert logged(imports_log) == sorted(
        [f"{PACKAGE}.hello", f"{PACKAGE}.todos.index", f"{PACKAGE}.todos.[id]"]
    )
    handlers = {route.name: route.handler for route in api.routes()}
    assert handlers["hello"] is hello.handler
    assert handlers["todos.index"] is index.handler
    assert client.get("/api/todos/3").json == {
        "module": f"{PACKAGE}.todos.[id]",
        "route": "todos.[id]",
    }
    assert importlib.import_module(f"{PACKAGE}.todos.[id]").handler is handlers["todos.[id]"]


def test_package_modules_import_relatively(
    api: Api, client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_package(
        tmp_path,
        {
            "_db.py": "ROWS = {'1': 'one'}\n",
            "todos/_util.py": "def upper(s):\n    return s.upper()\n",
            "todos/[id].py": """
                from .._db import ROWS
                from ._util import upper

                def GET(req, res):
                    return {"title": upper(ROWS[req.params["id"]])}
            """,
            "docs/[...slug].py": ECHO,
            "orgs/[org]/repos/list.py": """
                from ...._db import ROWS

                def GET(req, res):
                    return {"org": req.params["org"], "rows": len(ROWS)}
            """,
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    api.discover(PACKAGE)
    assert client.get("/api/todos/1").json == {"title": "ONE"}
    assert client.get("/api/docs/a").json["params"] == {"slug": ["a"]}
    assert client.get("/api/orgs/acme/repos/list").json == {"org": "acme", "rows": 1}
    assert f"{PACKAGE}.docs.[%2E%2E%2Eslug]" in sys.modules


def test_package_module_shadowed_by_a_package(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_package(tmp_path, {"hello.py": ECHO, "hello/__init__.py": "", "hello/world.py": ECHO})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError, match="that name is already the module") as info:
        api.discover(PACKAGE)
    assert str(tmp_path / PACKAGE / "hello.py") in str(info.value)


def test_package_folder_that_fails_to_import(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_package(tmp_path, {"todos/__init__.py": "1 / 0\n", "todos/[id].py": ECHO})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError, match="cannot import the package") as info:
        api.discover(PACKAGE)
    assert str(tmp_path / PACKAGE / "todos") in str(info.value)
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_sources_that_are_not_packages_or_directories(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ModuleNotFoundError, match=r"no package 'api'.*'\./api' or Path\('api'\)"):
        api.discover("api")
    with pytest.raises(ModuleNotFoundError, match=r"no package 'discovertest_x\.api'"):
        api.discover("discovertest_x.api")
    make_package(tmp_path, {"__init__.py": "import discovertest_missing\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="No module named 'discovertest_missing'"):
        api.discover(PACKAGE)
    with pytest.raises(ValueError, match="textwrap is a module, not a package"):
        api.discover(textwrap)
    with pytest.raises(NotADirectoryError, match="is not a directory"):
        api.discover(tmp_path / "missing")
    with pytest.raises(NotADirectoryError, match="is not a directory"):
        api.discover(str(tmp_path / PACKAGE / "__init__.py"))
    with pytest.raises(TypeError, match="not int"):
        api.discover(3)  # type: ignore[arg-type]


def test_relative_directory_path(
    api: Api, client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "api", {"hello.py": ECHO})
    monkeypatch.chdir(tmp_path)
    api.discover("./api")
    assert client.get("/api/hello").json["route"] == "hello"


def test_symlink_loops_end(api: Api, client: TestClient, tmp_path: Path) -> None:
    write(tmp_path, {"a/hello.py": ECHO})
    os.symlink(tmp_path / "a", tmp_path / "a" / "again")
    api.discover(tmp_path)
    assert client.get("/api/a/hello").json["route"] == "a.hello"
    assert_problem(client.get("/api/a/again/hello"), 404)


def test_order_is_sorted(tmp_path: Path) -> None:
    write(tmp_path, dict.fromkeys(("zeta.py", "alpha.py", "m/[id].py", "m/index.py"), ECHO))
    api = Api()
    api.discover(tmp_path)
    assert [route.name for route in api.routes()] == ["alpha", "m.[id]", "m.index", "zeta"]


def test_folder_middleware_sees_the_params_of_an_automatic_options(
    api: Api, client: TestClient, tmp_path: Path
) -> None:
    write(
        tmp_path,
        {
            "todos/[id]/_middleware.py": """
                from microapi import HTTPError

                def middleware(req, res, next):
                    if req.params["id"] == "0":
                        raise HTTPError(404, "no such todo")
                    next()
            """,
            "todos/[id]/notes.py": "def GET(req, res):\n    return {'id': req.params['id']}\n",
        },
    )
    api.discover(tmp_path)
    assert client.get("/api/todos/7/notes").json == {"id": "7"}
    assert client.options("/api/todos/7/notes").status_code == 204
    assert_problem(client.options("/api/todos/0/notes"), 404)
    assert_problem(client.delete("/api/todos/7/notes"), 405)
    api.close()
