"""Routes: both path syntaxes, routers, url_for, precedence, slashes, methods."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from werkzeug.routing import BuildError

from microapi import Api, Request, Res, Router
from microapi.routing import PathSpec, compile_path
from microapi.testing import TestClient
from tests.helpers import assert_problem


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
    assert "tests.test_routing:echo" in str(info.value)


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
