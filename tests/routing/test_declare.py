"""Routes: both path syntaxes, routers, url_for, precedence, slashes, methods."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.routing import BuildError

from microapi import Api, HTTPError, Request, Res, Router
from microapi.routing import PathSpec, compile_path
from microapi.testing import TestClient
from tests.helpers import assert_problem, raw_call


def echo(req: Request, res: Res) -> None:
    res.json({"route": req.route.name if req.route else None, "params": req.params})


# -- compiling paths ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "spec"),
    [
        ("/", PathSpec(("/",))),
        ("/todos", PathSpec(("/todos",))),
        ("/todos/", PathSpec(("/todos/",))),
        ("/todos/<int:id>", PathSpec(("/todos/<int:id>",))),
        ("/files/<path:rest>", PathSpec(("/files/<path:rest>",))),
        ("/todos/[id]", PathSpec(("/todos/<id>",))),
        ("/todos/[id]/", PathSpec(("/todos/<id>/",))),
        ("/orgs/[org]/repos/<int:id>", PathSpec(("/orgs/<org>/repos/<int:id>",))),
        ("/docs/[...slug]", PathSpec(("/docs/<catchall:slug>",), frozenset({"slug"}))),
        (
            "/docs/[[...slug]]",
            PathSpec(("/docs", "/docs/<catchall:slug>"), frozenset({"slug"}), frozenset({"slug"})),
        ),
        (
            "/[[...slug]]",
            PathSpec(("/", "/<catchall:slug>"), frozenset({"slug"}), frozenset({"slug"})),
        ),
        ("/a/[_x1]/[...rest_2]", PathSpec(("/a/<_x1>/<catchall:rest_2>",), frozenset({"rest_2"}))),
    ],
)
def test_compile_path(path: str, spec: PathSpec) -> None:
    assert compile_path(path) == spec


def test_both_syntaxes_reach_handlers_converted(api: Api, client: TestClient) -> None:
    api.route("/todos/<int:id>")(echo)
    api.add_route("/users/[name]", echo, name="user")
    api.add_route("/orgs/[org]/repos/<int:id>", echo, name="repo")
    api.add_route("/prices/<float:amount>", echo, name="price")
    api.add_route("/files/<path:rest>", echo, name="file")
    assert client.get("/todos/42").json == {"route": "echo", "params": {"id": 42}}
    assert client.get("/users/ada").json == {"route": "user", "params": {"name": "ada"}}
    assert client.get("/users/a%20b").json["params"] == {"name": "a b"}
    assert client.get("/orgs/acme/repos/7").json == {
        "route": "repo",
        "params": {"org": "acme", "id": 7},
    }
    assert client.get("/prices/1.25").json["params"] == {"amount": 1.25}
    assert client.get("/files/a/b.txt").json["params"] == {"rest": "a/b.txt"}
    assert client.get("/todos/x").status_code == 404
    assert client.get("/orgs/acme/repos/x").status_code == 404
    assert client.get("/users/").status_code == 404


def test_catch_all_values_are_lists(api: Api, client: TestClient) -> None:
    api.add_route("/docs/[...slug]", echo, name="docs")
    assert client.get("/docs/a").json["params"] == {"slug": ["a"]}
    assert client.get("/docs/a/b/c").json["params"] == {"slug": ["a", "b", "c"]}
    assert client.get("/docs/a%2Fb").json["params"] == {"slug": ["a", "b"]}
    # A catch-all needs at least one segment.
    assert_problem(client.get("/docs"), 404)


def test_optional_catch_all_is_present_as_an_empty_list(api: Api, client: TestClient) -> None:
    api.add_route("/shop/[[...slug]]", echo, name="shop")
    assert client.get("/shop").json == {"route": "shop", "params": {"slug": []}}
    assert client.get("/shop/a/b").json == {"route": "shop", "params": {"slug": ["a", "b"]}}
    redirect = client.get("/shop/")
    assert redirect.status_code == 308
    assert redirect.headers["Location"] == "/shop"


def test_optional_catch_all_at_the_root(api: Api, client: TestClient) -> None:
    api.add_route("/[[...slug]]", echo, name="all")
    assert client.get("/").json["params"] == {"slug": []}
    assert client.get("/x/y").json["params"] == {"slug": ["x", "y"]}


def test_route_object_describes_the_route(api: Api, client: TestClient) -> None:
    route = api.add_route("/todos/[id]", echo, ["get", "Post"], name="todo")
    assert route.path == "/todos/[id]"
    assert route.rule == "/todos/<id>"
    assert route.endpoint == route.name == "todo"
    assert route.methods == frozenset({"GET", "POST"})
    assert api.routes() == [route]
    seen: list[Any] = []

    @api.route("/seen")
    def show(req: Request, res: Res) -> None:
        seen.append(req.route)
        res.end()

    client.get("/seen")
    assert seen == [api.routes()[1]]


# -- registration errors name the route ----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("todos", "must be a string starting with '/'"),
        ("", "must be a string starting with '/'"),
        ("/todos/[id", "is not [name], [...name] or [[...name]]"),
        ("/todos/id]", "is not [name], [...name] or [[...name]]"),
        ("/todos/x[id]", "is not [name], [...name] or [[...name]]"),
        ("/todos/[id].json", "is not [name], [...name] or [[...name]]"),
        ("/todos/[[id]]", "is not [name], [...name] or [[...name]]"),
        ("/todos/[[...id]", "is not [name], [...name] or [[...name]]"),
        ("/todos/[..id]", "is not [name], [...name] or [[...name]]"),
        ("/todos/[]", "'' is not a valid parameter name"),
        ("/todos/[...]", "'' is not a valid parameter name"),
        ("/todos/[1st]", "'1st' is not a valid parameter name"),
        ("/todos/[a-b]", "'a-b' is not a valid parameter name"),
        ("/todos/[a b]", "'a b' is not a valid parameter name"),
        ("/docs/[...slug]/edit", "a catch-all must be the last segment"),
        ("/docs/[[...slug]]/edit", "a catch-all must be the last segment"),
        ("/docs/[...slug]/", "a catch-all must be the last segment"),
        ("/a/[id]/b/[id]", "parameter 'id' is used twice"),
        ("/a/<id>/[id]", "parameter 'id' is used twice"),
        ("/a/<int:id>-<id>", "parameter 'id' is used twice"),
    ],
)
def test_bad_paths_are_refused_at_registration(api: Api, path: str, message: str) -> None:
    with pytest.raises(ValueError, match=r"route .*" + re.escape(message)):
        api.add_route(path, echo)
    assert api.routes() == []


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/a/<nope:x>", "the converter 'nope' does not exist"),
        ("/a/<int(foo=1):x>", "unexpected keyword argument 'foo'"),
        ("/a/<x", "malformed url rule"),
        ("/a/<café>", "malformed url rule"),
    ],
)
def test_werkzeug_errors_name_the_route_and_handler(api: Api, path: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        api.add_route(path, echo)
    assert f"route {path!r}" in str(info.value)
    assert "tests.routing.test_declare:echo" in str(info.value)


@pytest.mark.parametrize(
    ("methods", "error", "message"),
    [
        ("GET", TypeError, "must be a list"),
        (["GET", "FETCH"], ValueError, "unknown methods \\['FETCH'\\]"),
        ([], ValueError, "unknown methods"),
    ],
)
def test_bad_methods_are_refused(api: Api, methods: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        api.add_route("/x", echo, methods)


def test_duplicate_route_for_the_same_method_is_refused(api: Api) -> None:
    def first(req: Request, res: Res) -> None:
        res.end()

    def second(req: Request, res: Res) -> None:
        res.end()

    api.add_route("/todos/<int:id>", first, ["GET", "PUT"])
    # The same shape in the other syntax, and another parameter name.
    for path in ["/todos/<int:id>", "/todos/<int:todo_id>"]:
        with pytest.raises(ValueError, match="PUT") as info:
            api.add_route(path, second, ["PUT"], name="second")
        message = str(info.value)
        assert "already registered" in message
        assert "first" in message
        assert "second" in message
    # Another method on the same path, and another converter, are fine.
    api.add_route("/todos/<int:id>", second, ["DELETE"], name="second")
    api.add_route("/todos/<id>", second, ["GET"], name="second_any")
    assert len(api.routes()) == 3


def test_duplicate_next_js_and_werkzeug_spellings_clash(api: Api) -> None:
    api.add_route("/todos/[id]", echo, name="a")
    with pytest.raises(ValueError, match="already registered"):
        api.add_route("/todos/<id>", echo, name="b")


def test_optional_catch_all_claims_the_path_without_segments(api: Api) -> None:
    api.add_route("/docs", echo, name="docs_index")
    with pytest.raises(ValueError, match=re.escape("GET /docs/[[...slug]] is already registered")):
        api.add_route("/docs/[[...slug]]", echo, name="docs")


@pytest.mark.parametrize("head_first", [True, False])
def test_declared_head_takes_over_from_get_in_any_order(api: Api, head_first: bool) -> None:
    def head(req: Request, res: Res) -> None:
        res.set_header("X-Head", "declared").end()

    if head_first:
        api.add_route("/x", head, ["HEAD"], name="header")
    api.add_route("/x", echo, name="getter")
    if not head_first:
        api.add_route("/x", head, ["HEAD"], name="header")
    client = TestClient(api)
    assert client.head("/x").headers["X-Head"] == "declared"
    assert client.get("/x").json == {"route": "getter", "params": {}}


def test_head_declared_twice_is_refused(api: Api) -> None:
    api.add_route("/x", echo, ["HEAD"], name="one")
    with pytest.raises(ValueError, match="HEAD /x is already registered"):
        api.add_route("/x", echo, ["HEAD"], name="two")


def test_default_names_must_not_collide(api: Api) -> None:
    def make() -> Any:
        def index(req: Request, res: Res) -> None:
            res.end()

        return index

    api.add_route("/todos", make())
    with pytest.raises(ValueError, match="the name 'index' is already used by route '/todos'"):
        api.add_route("/users", make())
    api.add_route("/users", make(), name="users")
    # One name may serve several methods of one path.
    api.add_route("/todos", make(), ["POST"])
    assert [route.name for route in api.routes()] == ["index", "users", "index"]


def test_including_a_router_twice_is_refused(api: Api) -> None:
    todos = Router(prefix="/todos")
    todos.add_route("/", echo)
    api.include(todos)
    with pytest.raises(ValueError, match="already registered"):
        api.include(todos)


# -- routers --------------------------------------------------------------------------------


def test_router_prefix_and_names(api: Api, client: TestClient) -> None:
    todos = Router(prefix="/todos", name="todos")

    @todos.route("/")
    def index(req: Request, res: Res) -> None:
        res.json({"route": req.route.name if req.route else None})

    @todos.route("/[id]", methods=["GET", "DELETE"])
    def item(req: Request, res: Res) -> None:
        res.json({"route": req.route.name if req.route else None, "id": req.params["id"]})

    todos.add_route("/<int:id>/done", echo, ["POST"], name="finish")
    api.include(todos)
    assert [(r.path, r.name) for r in api.routes()] == [
        ("/todos", "todos.index"),
        ("/todos/[id]", "todos.item"),
        ("/todos/<int:id>/done", "todos.finish"),
    ]
    assert client.get("/todos").json == {"route": "todos.index"}
    assert client.delete("/todos/9").json == {"route": "todos.item", "id": "9"}
    assert client.post("/todos/9/done").json == {"route": "todos.finish", "params": {"id": 9}}
    assert client.get("/todos/9/done").status_code == 405
    assert api.url_for("todos.item", id="x y") == "/todos/x%20y"
    assert api.url_for("todos.index") == "/todos"


def test_router_without_name_keeps_function_names(api: Api, client: TestClient) -> None:
    users = Router(prefix="/users")
    users.add_route("/[id]", echo)
    api.include(users)
    assert client.get("/users/5").json == {"route": "echo", "params": {"id": "5"}}
    assert api.url_for("echo", id=5) == "/users/5"


def test_routers_nest(api: Api, client: TestClient) -> None:
    v1 = Router(prefix="/v1", name="v1")
    todos = Router(prefix="/todos", name="todos")
    todos.add_route("/<int:id>", echo, name="show")
    todos.add_route("/", echo, name="index")
    v1.include(todos)
    api.include(v1)
    assert client.get("/v1/todos/3").json == {"route": "v1.todos.show", "params": {"id": 3}}
    assert client.get("/v1/todos").json["route"] == "v1.todos.index"
    assert api.url_for("v1.todos.show", id=3) == "/v1/todos/3"
    assert client.get("/todos/3").status_code == 404


def test_router_with_a_dynamic_prefix(api: Api, client: TestClient) -> None:
    repos = Router(prefix="/orgs/[org]/repos", name="repos")
    repos.add_route("/<int:id>", echo, name="show")
    api.include(repos)
    assert client.get("/orgs/acme/repos/4").json["params"] == {"org": "acme", "id": 4}
    assert api.url_for("repos.show", org="acme", id=4) == "/orgs/acme/repos/4"


@pytest.mark.parametrize("prefix", ["todos", "/todos/", "/"])
def test_router_prefix_is_checked(prefix: str) -> None:
    with pytest.raises(ValueError, match="must start with '/' and not end with '/'"):
        Router(prefix=prefix)


def _guarded_admin() -> Router:
    admin = Router(prefix="/admin")

    @admin.middleware
    def guard(req: Request, res: Res, next: Any) -> None:
        if req.headers.get("Authorization") != "Bearer yes":
            raise HTTPError(401, "token required")
        assert req.route is not None
        res.set_header("X-Admin", f"{req.route.name} {req.params}")
        next()

    admin.add_route("/users/<int:id>", echo, name="user")
    return admin


def test_the_automatic_options_of_a_router_path_runs_its_middleware(
    api: Api, client: TestClient
) -> None:
    api.include(_guarded_admin())
    api.add_route("/admin/users/<int:id>", echo, methods=["PUT"], name="open_put")
    # Without the token the guard answers, before any method is revealed.
    denied = client.options("/admin/users/1")
    assert_problem(denied, 401)
    assert "Allow" not in denied.headers
    allowed = client.options("/admin/users/1", headers={"Authorization": "Bearer yes"})
    assert allowed.status_code == 204
    assert allowed.headers["Allow"] == "GET, HEAD, OPTIONS, PUT"
    # As in werkzeug and Flask, OPTIONS is a request to the route: route and
    # params are set for its middleware.
    assert allowed.headers["X-Admin"] == "user {'id': 1}"


def test_a_405_is_the_apps_answer_as_in_flask(api: Api, client: TestClient) -> None:
    # A wrong method matches no route (req.route is None), so only the
    # Api's middleware sees it; the Router's guard does not run.
    api.include(_guarded_admin())
    response = client.delete("/admin/users/1")
    assert_problem(response, 405)
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert "X-Admin" not in response.headers


def test_options_runs_the_middleware_of_the_route_registered_first(
    api: Api, client: TestClient
) -> None:
    # The open PUT route comes first: its (no) middleware decides.
    api.add_route("/admin/users/<int:id>", echo, methods=["PUT"], name="open_put")
    api.include(_guarded_admin())
    assert client.options("/admin/users/1").status_code == 204
    other = Api()
    other.include(_guarded_admin())
    other.add_route("/admin/users/<int:id>", echo, methods=["PUT"], name="open_put")
    assert_problem(TestClient(other).options("/admin/users/1"), 401)


def test_a_preflight_runs_the_middleware_of_the_route_it_asks_about(api: Api) -> None:
    api.include(_guarded_admin())
    api.add_route("/admin/users/<int:id>", echo, methods=["PUT"], name="open_put")
    client = TestClient(api)
    asks_put = {"Origin": "https://app.example", "Access-Control-Request-Method": "PUT"}
    assert client.options("/admin/users/1", headers=asks_put).status_code == 204
    asks_get = {**asks_put, "Access-Control-Request-Method": "GET"}
    assert_problem(client.options("/admin/users/1", headers=asks_get), 401)


def test_paths_without_route_middleware_keep_the_apps_answers(api: Api, client: TestClient) -> None:
    api.include(_guarded_admin())
    api.add_route("/public", echo, name="public")
    assert "X-Admin" not in client.options("/public").headers
    assert_problem(client.delete("/public"), 405)
    assert_problem(client.get("/admin/missing"), 404)


def test_router_middleware_runs_only_for_its_routes(api: Api, client: TestClient) -> None:
    calls: list[str] = []
    admin = Router(prefix="/admin")

    @admin.middleware
    def audit(req: Request, res: Res, next: Any) -> None:
        calls.append(req.path)
        next()

    admin.add_route("/stats", echo)
    api.add_route("/public", echo, name="public")
    api.include(admin)
    client.get("/admin/stats")
    client.get("/public")
    client.get("/admin/missing")
    assert calls == ["/admin/stats"]


# -- url_for --------------------------------------------------------------------------------


def test_url_for_builds_every_syntax(api: Api) -> None:
    api.add_route("/docs/[...slug]", echo, name="docs")
    api.add_route("/shop/[[...slug]]", echo, name="shop")
    api.add_route("/orgs/[org]/repos/<int:id>", echo, name="repo")
    api.add_route("/files/<path:rest>", echo, name="file")
    assert api.url_for("docs", slug=["a", "b c", 3]) == "/docs/a/b%20c/3"
    assert api.url_for("shop", slug=[]) == "/shop"
    assert api.url_for("shop") == "/shop"
    assert api.url_for("shop", slug=("x",)) == "/shop/x"
    assert api.url_for("repo", org="acme", id=7) == "/orgs/acme/repos/7"
    assert api.url_for("repo", org="acme", id=7, tab="x") == "/orgs/acme/repos/7?tab=x"
    assert api.url_for("file", rest="a/b") == "/files/a/b"
    with pytest.raises(BuildError):
        api.url_for("docs", slug=[])
    with pytest.raises(BuildError):
        api.url_for("repo", org="acme")
    with pytest.raises(BuildError):
        api.url_for("missing")


def test_url_for_round_trips_through_the_app(api: Api, client: TestClient) -> None:
    api.add_route("/docs/[...slug]", echo, name="docs")
    api.add_route("/orgs/[org]/repos/<int:id>", echo, name="repo")
    url = api.url_for("docs", slug=["a b", "é", "x"])
    assert client.get(url).json["params"] == {"slug": ["a b", "é", "x"]}
    url = api.url_for("repo", org="a b?c&d#e", id=1)
    assert client.get(url).json["params"] == {"org": "a b?c&d#e", "id": 1}


# -- precedence -----------------------------------------------------------------------------


ROUTES = [
    ("/blog/[...slug]", "catch_all"),
    ("/blog/[id]", "dynamic"),
    ("/blog/<int:id>", "integer"),
    ("/blog/latest", "static"),
    ("/blog/[id]/comments", "comments"),
]


def test_static_beats_dynamic_beats_catch_all_in_any_order() -> None:
    expected = {
        "/blog/latest": "static",
        "/blog/42": "integer",
        "/blog/hello": "dynamic",
        "/blog/hello/comments": "comments",
        "/blog/hello/world": "catch_all",
        "/blog/latest/comments": "comments",
        "/blog/a/b/c": "catch_all",
    }
    for order in itertools.permutations(ROUTES):
        api = Api()
        for path, name in order:
            api.add_route(path, echo, name=name)
        client = TestClient(api)
        for path, name in expected.items():
            assert client.get(path).json["route"] == name, (order, path)


def test_optional_catch_all_loses_to_everything_else(api: Api, client: TestClient) -> None:
    api.add_route("/shop/[[...slug]]", echo, name="shop")
    api.add_route("/shop/cart", echo, name="cart")
    api.add_route("/shop/[item]", echo, name="item")
    assert client.get("/shop").json["route"] == "shop"
    assert client.get("/shop/cart").json["route"] == "cart"
    assert client.get("/shop/hat").json["route"] == "item"
    assert client.get("/shop/hat/red").json == {"route": "shop", "params": {"slug": ["hat", "red"]}}


# -- trailing slashes and merged slashes ----------------------------------------------------------


def test_trailing_slash_redirects_to_the_route_without_it(api: Api, client: TestClient) -> None:
    api.add_route("/todos", echo, ["GET", "POST"])
    for method in ["GET", "POST", "HEAD", "OPTIONS"]:
        response = client.open("/todos/?page=2&q=a%20b", method=method)
        assert response.status_code == 308, method
        assert response.headers["Location"] == "/todos?page=2&q=a%20b"
        assert response.data == b""
    assert client.get("/todos/").headers["Location"] == "/todos"


def test_missing_slash_redirects_to_the_route_with_it(api: Api, client: TestClient) -> None:
    api.add_route("/todos/", echo, ["GET", "POST"])
    for method in ["GET", "POST"]:
        response = client.open("/todos?page=2", method=method)
        assert response.status_code == 308, method
        assert response.headers["Location"] == "/todos/?page=2"
    assert client.get("/todos/").status_code == 200


def test_trailing_slash_redirect_for_dynamic_routes(api: Api, client: TestClient) -> None:
    api.add_route("/todos/<int:id>", echo)
    api.add_route("/users/[name]/", echo, name="user")
    assert client.get("/todos/3/").headers["Location"] == "/todos/3"
    assert client.get("/users/ada").headers["Location"] == "/users/ada/"
    assert client.get("/todos/x/").status_code == 404


def test_trailing_slash_redirect_only_for_existing_paths(api: Api, client: TestClient) -> None:
    api.add_route("/todos", echo)
    assert_problem(client.get("/nothing/"), 404)
    assert_problem(client.get("/nothing//"), 404)
    assert_problem(client.get("/"), 404)


def test_doubled_trailing_slash_redirects_in_one_hop(api: Api, client: TestClient) -> None:
    api.add_route("/todos", echo)
    response = client.get("/todos//?page=2")
    assert (response.status_code, response.headers["Location"]) == (308, "/todos?page=2")


def test_no_redirect_loop_when_a_converter_rejects_the_value(api: Api, client: TestClient) -> None:
    api.add_route("/n/<int:n>", echo, ["POST"])
    api.add_route("/n/<int(max=9):m>/", echo, name="small")
    assert client.get("/n/4").headers["Location"] == "/n/4/"
    assert client.get("/n/4/").json == {"route": "small", "params": {"m": 4}}
    # "/n/42/" is too big for "small"; "/n/42" would redirect right back.
    assert_problem(client.get("/n/42/"), 404)


def test_converter_rejection_is_a_405_for_the_routes_before_it(
    api: Api, client: TestClient
) -> None:
    api.add_route("/n/<int(max=9):n>", echo, ["POST"])
    api.add_route("/n/<int(max=9):m>", echo, ["GET"], name="small")
    response = client.get("/n/42")
    assert response.status_code == 405
    assert response.headers["Allow"] == "OPTIONS, POST"


def test_doubled_slashes_redirect_to_the_merged_path(api: Api, client: TestClient) -> None:
    api.add_route("/a/b/<int:id>", echo)
    api.add_route("/c/", echo, name="c")
    response = client.get("/a//b///3?x=1")
    assert response.status_code == 308
    assert response.headers["Location"] == "/a/b/3?x=1"
    assert client.get("/c//").headers["Location"] == "/c/"
    assert client.get("/c//").status_code == 308
    assert client.get("/a//b/x").status_code == 404


def test_a_route_declared_with_doubled_slashes_is_served_merged(
    api: Api, client: TestClient
) -> None:
    api.add_route("/a//b", echo)
    assert client.get("/a/b").status_code == 200
    response = client.get("/a//b")
    assert response.status_code == 308
    assert response.headers["Location"] == "/a/b"


def test_redirect_location_is_quoted(api: Api, client: TestClient) -> None:
    api.add_route("/caf\u00e9", echo)
    response = client.get("/caf%C3%A9/")
    assert response.status_code == 308
    assert response.headers["Location"] == "/caf%C3%A9"


# -- methods --------------------------------------------------------------------------------


def test_wrong_method_is_405_with_allow(api: Api, client: TestClient) -> None:
    api.add_route("/todos", echo, ["GET", "POST"])
    api.add_route("/todos", echo, ["DELETE"], name="purge")
    problem = assert_problem(client.put("/todos"), 405)
    assert problem["title"] == "Method Not Allowed"
    allow = client.put("/todos").headers["Allow"]
    assert allow == "DELETE, GET, HEAD, OPTIONS, POST"


def test_405_lists_the_methods_of_every_route_on_the_path(api: Api, client: TestClient) -> None:
    api.add_route("/items/<int:id>", echo, ["PUT"])
    api.add_route("/items/[slug]", echo, ["PATCH"], name="by_slug")
    # "/items/1" is answered by both rules: werkzeug collects their methods.
    response = client.get("/items/1")
    assert response.status_code == 405
    assert response.headers["Allow"] == "OPTIONS, PATCH, PUT"
    response = client.get("/items/x")
    assert response.headers["Allow"] == "OPTIONS, PATCH"


def test_automatic_options(api: Api, client: TestClient) -> None:
    api.add_route("/todos", echo, ["GET", "POST"])
    response = client.options("/todos")
    assert response.status_code == 204
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS, POST"
    assert response.data == b""
    assert_problem(client.options("/missing"), 404)


def test_declared_options_takes_over(api: Api, client: TestClient) -> None:
    @api.route("/todos", methods=["GET", "OPTIONS"])
    def todos(req: Request, res: Res) -> None:
        res.status(200).json({"method": req.method})

    response = client.options("/todos")
    assert response.status_code == 200
    assert response.json == {"method": "OPTIONS"}


def test_head_is_answered_for_get_routes_without_a_body(api: Api, client: TestClient) -> None:
    calls: list[str] = []

    @api.route("/todos")
    def todos(req: Request, res: Res) -> None:
        calls.append(req.method)
        res.json({"items": [1, 2, 3]})

    get = client.get("/todos")
    head = client.head("/todos")
    assert head.status_code == 200
    assert head.data == b""
    assert head.headers["Content-Length"] == get.headers["Content-Length"] != "0"
    assert head.headers["Content-Type"] == "application/json"
    assert calls == ["GET", "HEAD"]


def test_head_is_not_answered_for_routes_without_get(api: Api, client: TestClient) -> None:
    api.add_route("/todos", echo, ["POST"])
    response = client.head("/todos")
    assert response.status_code == 405
    assert response.data == b""
    assert response.headers["Allow"] == "OPTIONS, POST"


def test_declared_head_route_is_served(api: Api, client: TestClient) -> None:
    @api.route("/ping", methods=["HEAD"])
    def ping(req: Request, res: Res) -> None:
        res.set_header("X-Pong", "1").end()

    response = client.head("/ping")
    assert response.status_code == 200
    assert response.headers["X-Pong"] == "1"
    assert client.get("/ping").status_code == 405


def test_unknown_path_is_404_problem(api: Api, client: TestClient) -> None:
    api.add_route("/todos", echo)
    problem = assert_problem(client.get("/nope"), 404)
    assert problem["title"] == "Not Found"


# -- converters take ASCII digits only -------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/users/\u0663",  # ARABIC-INDIC DIGIT THREE
        "/users/1\u0663",
        "/users/\uff11",  # FULLWIDTH DIGIT ONE
        "/users/\u00b2",  # SUPERSCRIPT TWO
        "/users/-1",
        "/users/+1",
        "/users/1_000",
        "/users/ 1",
        "/prices/\u0661.\u0665",
        "/prices/1.\u0665",
        "/prices/1",
        "/prices/.5",
        "/prices/1e3",
        "/prices/nan",
        "/prices/inf",
    ],
)
def test_number_converters_take_ascii_digits_only(api: Api, client: TestClient, path: str) -> None:
    api.add_route("/users/<int:id>", echo)
    api.add_route("/prices/<float:amount>", echo, name="price")
    assert_problem(client.get(path), 404)


def test_number_converters_accept_ascii_numbers(api: Api, client: TestClient) -> None:
    api.add_route("/users/<int:id>", echo)
    api.add_route("/prices/<float:amount>", echo, name="price")
    assert client.get("/users/007").json["params"] == {"id": 7}
    assert client.get("/users/12345678901234567890").json["params"] == {"id": 12345678901234567890}
    assert client.get("/prices/0.50").json["params"] == {"amount": 0.5}


def test_unicode_digits_fall_through_to_a_string_route(api: Api, client: TestClient) -> None:
    api.add_route("/users/<int:id>", echo)
    api.add_route("/users/[name]", echo, name="by_name")
    assert client.get("/users/\u0663").json == {"route": "by_name", "params": {"name": "\u0663"}}
    assert client.get("/users/3").json == {"route": "echo", "params": {"id": 3}}


@pytest.mark.parametrize(
    ("path", "location"),
    [("/docs/a/", "/docs/a"), ("/docs/a//b", "/docs/a/b"), ("/opt/a/b/", "/opt/a/b")],
)
def test_catch_alls_redirect_trailing_and_doubled_slashes(
    api: Api, client: TestClient, path: str, location: str
) -> None:
    api.add_route("/docs/[...slug]", echo, name="docs")
    api.add_route("/opt/[[...slug]]", echo, name="opt")
    response = client.get(path)
    assert (response.status_code, response.headers["Location"]) == (308, location)
    assert client.get(location).json["params"]["slug"] == location.split("/")[2:]


# -- properties -----------------------------------------------------------------------------


def budget(examples: int) -> Any:
    """*examples* under ``make test``, twenty times more under ``make fuzz``."""
    return settings(max_examples=examples * settings().max_examples // 100)


# Route text: anything but the path syntax's own characters.
static_text = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="/<>[]"),
    min_size=1,
    max_size=6,
)
segment_values = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="/"), min_size=1, max_size=6
)
path_values = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="/"), min_size=1, max_size=6
)
# Any float a URL can hold: 1e+20 and 5e-324 too (written in plain notation).
plain_floats = st.floats(min_value=0, allow_nan=False, allow_infinity=False)


@st.composite
def declared_routes(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A route path in either syntax, mixed, and values for its parameters."""
    names = iter(f"p{n}" for n in range(20))
    segments: list[str] = []
    values: dict[str, Any] = {}
    for kind in draw(
        st.lists(st.sampled_from(["static", "str", "next", "int", "float", "mixed"]), max_size=4)
    ):
        if kind == "static":
            segments.append(draw(static_text))
            continue
        name = next(names)
        if kind in ("str", "next"):
            segments.append(f"<{name}>" if kind == "str" else f"[{name}]")
            values[name] = draw(segment_values)
        elif kind in ("int", "mixed"):
            segments.append(f"<int:{name}>" if kind == "int" else f"v<int:{name}>.json")
            values[name] = draw(st.integers(min_value=0, max_value=10**30))
        else:
            segments.append(f"<float:{name}>")
            values[name] = draw(plain_floats)
    last = draw(st.sampled_from([None, "path", "catch-all", "optional"]))
    if last is not None:
        name = next(names)
        least = 0 if last == "optional" else 1
        pieces = draw(st.lists(path_values, min_size=least, max_size=3))
        if last == "path":
            segments.append(f"<path:{name}>")
            values[name] = "/".join(pieces)
        else:
            segments.append(f"[...{name}]" if last == "catch-all" else f"[[...{name}]]")
            values[name] = pieces
    return "/" + "/".join(segments), values


@budget(150)
@given(declared_routes(), st.sampled_from(["", "/v1", "/orgs/[org]"]), st.data())
def test_url_for_reaches_any_route_with_any_values(
    declared: tuple[str, dict[str, Any]], prefix: str, data: st.DataObject
) -> None:
    path, values = declared
    api = Api()
    if prefix:
        router = Router(prefix)
        router.add_route(path, echo, name="target")
        api.include(router)
        if prefix == "/orgs/[org]":
            values = {**values, "org": data.draw(segment_values)}
    else:
        api.add_route(path, echo, name="target")
    url = api.url_for("target", **values)
    response = TestClient(api).get(url)
    assert response.status_code == 200, (path, values, url, response.get_data())
    assert response.json == {"route": "target", "params": values}, (path, url)


def call(api: Api, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """Call *api* with a raw WSGI *path* (latin-1, as servers give it)."""
    status, headers, body = raw_call(api, method, path)
    return int(status[:3]), headers, body


# Routes competing for what follows "/p/": (kind, path).
COMPETING = [
    ("int", "/p/<int:n>"),
    ("float", "/p/<float:f>"),
    ("str", "/p/[s]"),
    ("path", "/p/<path:rest>"),
    ("catch_all", "/p/[...slug]"),
    ("optional", "/p/[[...opt]]"),
]
WORDS = ["latest", "42", "1.5", "a b", "é"]
request_values = st.one_of(
    st.sampled_from(WORDS),
    st.integers(min_value=0, max_value=10**20).map(str),
    st.floats(min_value=0, max_value=1e6, allow_nan=False).map(repr),
    st.sampled_from(["\u0663", "1.\u0663", "-1", "+1", "1e3", ".", "..", "%41", ""]),
    st.lists(path_values, min_size=1, max_size=3).map("/".join),
)


def winner(order: list[str], statics: set[str], value: str) -> str | None:
    """Which route answers "/p/" + *value*: werkzeug's precedence, spelled out.

    Static segments beat converters; numbers (ASCII digits only) beat plain
    segments; those beat the converters that take slashes, among which the
    first registered wins.
    """
    if value == "":
        return "optional" if "optional" in order else None
    if "/" not in value:
        if value in statics:
            return f"static {value}"
        if "int" in order and re.fullmatch("[0-9]+", value):
            return "int"
        if "float" in order and re.fullmatch(r"[0-9]+\.[0-9]+", value):
            return "float"
        if "str" in order:
            return "str"
    return next((kind for kind in order if kind in ("path", "catch_all", "optional")), None)


def expected_params(kind: str, value: str) -> dict[str, Any]:
    """The params the route of *kind* gets for "/p/" + *value*."""
    if kind == "int":
        return {"n": int(value)}
    if kind == "float":
        return {"f": float(value)}
    if kind == "str":
        return {"s": value}
    if kind == "path":
        return {"rest": value}
    if kind == "catch_all":
        return {"slug": value.split("/")}
    if kind == "optional":
        return {"opt": value.split("/") if value else []}
    return {}


@budget(60)
@given(
    st.lists(st.sampled_from(COMPETING), unique=True, min_size=1),
    st.sets(st.sampled_from(WORDS)),
    st.lists(request_values, min_size=1, max_size=5),
    st.data(),
)
def test_precedence_does_not_depend_on_registration_order(
    competing: list[tuple[str, str]], statics: set[str], values: list[str], data: st.DataObject
) -> None:
    kinds = {kind for kind, _ in competing}
    if {"catch_all", "optional"} <= kinds:
        # Both claim "/p/<catchall:...>": refused at registration, as in Next.js.
        competing = [route for route in competing if route[0] != "optional"]
    routes = [*competing, *((f"static {word}", f"/p/{word}") for word in statics)]
    routes = data.draw(st.permutations(routes))
    api = Api()
    for kind, path in routes:
        api.add_route(path, echo, name=kind)
    order = [kind for kind, _ in routes]
    for value in values:
        want = winner(order, statics, value)
        path = ("/p/" + value if value else "/p").encode().decode("latin-1")
        status, _, body = call(api, path)
        if want is None:
            assert status == 404, (order, value, body)
            continue
        assert status == 200, (order, value, body)
        assert json.loads(body) == {"route": want, "params": expected_params(want, value)}, order


def many_routes() -> Api:
    """An app with every kind of route, for hostile paths."""
    api = Api()
    for kind, path in COMPETING:
        if kind != "optional":
            api.add_route(path, echo, name=kind)
    api.add_route("/o/[[...opt]]", echo, ["GET", "POST"], name="optional")
    api.add_route("/", echo, name="root")
    api.add_route("/[page]", echo, name="page")  # "/\\evil.com/" redirects somewhere
    api.add_route("/todos/", echo, ["GET", "PUT"], name="todos")
    api.add_route("/orgs/[org]/repos/<int:id>", echo, name="repo")
    api.add_route("/v<int:major>.<int:minor>/x", echo, name="version")
    router = Router("/r/[tenant]", name="r")
    router.add_route("/items/<float:price>", echo, ["DELETE"], name="item")
    api.include(router)
    return api


ROUTED = many_routes()
# Route words, numbers, dots, escapes that stay raw, NUL, backslash, bytes
# that are not UTF-8, a UTF-8 "é", half of a UTF-8 sequence.
PIECES = (
    "p|o|todos|orgs|repos|r|items|v1.2|x|1|1.5||.|..|%|%2F|%00|\x00|\\|\xff|\xc3\xa9|\xe2\x80| |?|#"
)
hostile_paths = st.one_of(
    st.text(st.characters(max_codepoint=255), max_size=60),
    st.lists(st.sampled_from(PIECES.split("|")), max_size=8).map("/".join),
    st.sampled_from(
        [
            "",
            "/" * 50,
            "/p/" + "a" * 10_000,
            "/p/" + "a/" * 2_000,
            "/\\evil.com/",
            "//evil.com/",
            "/\\/evil.com/",
            "/%2F%2Fevil.com/",
            "/o/a//b/",
        ]
    ),
)


@budget(200)
@given(hostile_paths, st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]))
def test_no_path_is_a_server_error(path: str, method: str) -> None:
    status, headers, body = call(ROUTED, path, method)
    assert status in {200, 204, 308, 404, 405}, (method, path, body)
    if status == 308:
        # A path on this site: never "//host" or "/\\host", which browsers
        # would follow to another site.
        location = headers["Location"]
        assert location.startswith("/"), location
        assert location[1:2] not in ("/", "\\"), location
        assert location.isascii(), location
    if status in (204, 405):
        assert "OPTIONS" in headers["Allow"]
    if status >= 400:
        assert headers["Content-Type"] == "application/problem+json"
        assert method == "HEAD" or json.loads(body)["status"] == status


# -- review fixes: NUL in routes, floats in plain notation, newlines in <path:> ----------


def test_a_static_segment_may_hold_a_nul() -> None:
    api = Api()
    api.add_route("/a\x00b/<int:n>", echo, name="nul")
    api.add_route("/<p>/<int:n>", echo, name="other", methods=["POST"])
    client = TestClient(api)
    assert client.get("/a%00b/7").json == {"route": "nul", "params": {"n": 7}}
    assert api.url_for("nul", n=7) == "/a%00b/7"
    assert client.get("/a%00c/7").status_code == 405


@pytest.mark.parametrize(
    ("value", "url", "back"),
    [
        (1e20, "/fl/100000000000000000000.0", 1e20),
        (1e-07, "/fl/0.0000001", 1e-07),
        (2.5e-05, "/fl/0.000025", 2.5e-05),
        (0.5, "/fl/0.5", 0.5),
        (3, "/fl/3.0", 3.0),
        (-0.0, "/fl/0.0", 0.0),
        (5e-324, "/fl/0." + "0" * 323 + "5", 5e-324),
        (
            1.7976931348623157e308,
            "/fl/17976931348623157" + "0" * 292 + ".0",
            1.7976931348623157e308,
        ),
    ],
)
def test_url_for_writes_floats_in_the_notation_the_route_matches(
    value: float, url: str, back: float
) -> None:
    api = Api()
    api.add_route("/fl/<float:x>", echo, name="fl")
    assert api.url_for("fl", x=value) == url
    assert TestClient(api).get(url).json == {"route": "fl", "params": {"x": back}}


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (-1.5, "-1.5 is negative"),
        (float("inf"), "inf is not finite"),
        (float("-inf"), "-inf is not finite"),
        (float("nan"), "nan is not finite"),
    ],
)
def test_url_for_refuses_floats_no_url_matches(value: float, why: str) -> None:
    api = Api()
    api.add_route("/fl/<float:x>", echo, name="fl")
    with pytest.raises(ValueError, match=f"float parameter {re.escape(why)}"):
        api.url_for("fl", x=value)


def test_a_signed_float_route_builds_negative_values() -> None:
    api = Api()
    api.add_route("/s/<float(signed=True):x>", echo, name="s")
    url = api.url_for("s", x=-1e-07)
    assert url == "/s/-0.0000001"
    assert TestClient(api).get(url).json == {"route": "s", "params": {"x": -1e-07}}
    with pytest.raises(ValueError, match="not finite"):
        api.url_for("s", x=float("-inf"))


@pytest.mark.parametrize("value", ["a\nb", "\n", "a/\n/b", "x\r\n", "\n\n/c"])
def test_a_path_parameter_may_hold_newlines(value: str) -> None:
    api = Api()
    api.add_route("/f/<path:p>", echo, name="f")
    api.add_route("/g/<path:p>/edit", echo, name="g")
    client = TestClient(api)
    url = api.url_for("f", p=value)
    assert client.get(url).json == {"route": "f", "params": {"p": value}}
    assert client.get(api.url_for("g", p=value)).json == {"route": "g", "params": {"p": value}}


def test_a_router_middleware_under_a_path_prefix_sees_values_with_newlines() -> None:
    # Once <path:> matches newlines, the router's match= regex must too, or
    # "/files/a%0Ab/secret" would reach the route without its guard.
    api = Api()
    router = Router(prefix="/files/<path:p>")

    @router.middleware(match="/secret")
    def guard(req: Request, res: Res, next: Any) -> None:
        res.status(401).json({"error": "guarded"})

    router.add_route("/secret", echo, name="secret")
    api.include(router)
    client = TestClient(api)
    for path in [
        "/files/a/secret",
        "/files/a%0Ab/secret",
        "/files/%0A/secret",
        "/files/a/%0A/secret",
    ]:
        assert client.get(path).json == {"error": "guarded"}, path
