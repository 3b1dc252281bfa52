"""``api.openapi()`` and ``Api(docs=True)``: the document and the docs page."""

from __future__ import annotations

import functools
import importlib
from typing import Any

import pytest
from marshmallow import Schema, fields, validate
from openapi_spec_validator import validate as validate_spec
from werkzeug.routing import BaseConverter

from microapi import Api, Request, Res, Router
from microapi.docs import DOCS_CSP, SWAGGER_UI_DIR
from microapi.middleware import bearer_auth, csrf
from microapi.openapi import build_spec
from microapi.testing import TestClient

from .helpers import assert_problem

PROBLEM = {"$ref": "#/components/schemas/Problem"}


class TodoSchema(Schema):
    id = fields.Int(dump_only=True)
    title = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    done = fields.Bool(load_default=False)
    note = fields.Str(allow_none=True)


class Page(Schema):
    limit = fields.Int(load_default=20, validate=validate.Range(min=1, max=100))
    tag = fields.List(fields.Str())


def todo_get(req: Request, res: Res) -> Any:
    """Get one todo.

    Answers 404 when the todo does not exist.
    """
    return {"id": req.params["id"], "title": "x", "done": False}


def noop(req: Request, res: Res) -> None:
    res.end()


def rich_api(**options: Any) -> Api:
    """One route for each mapping the document makes."""
    api = Api(title="Rich", version="2.1.0", **options)
    todos = Router("/todos", name="todos", tags=["Todos"])

    @todos.route("/", methods=["GET"], query=Page, response=TodoSchema(many=True))
    def index(req: Request, res: Res) -> Any:
        """List todos."""
        return []

    @todos.route("/", methods=["POST"], body=TodoSchema, response=TodoSchema, status=201)
    def create(req: Request, res: Res) -> Any:
        """Create a todo."""
        return req.body

    todos.add_route("/<int:id>", todo_get, response=TodoSchema, name="get")

    @todos.route("/<int:id>", methods=["DELETE"], status=204)
    def remove(req: Request, res: Res) -> None:
        res.end()

    api.include(todos)
    api.add_route("/floats/<float:x>", noop, name="floats")
    api.add_route("/signed/<int(signed=True, min=1, max=5):n>", noop, name="signed")
    api.add_route("/things/<uuid:key>", noop, name="things")
    api.add_route("/colors/<any(red, green):color>", noop, name="colors")
    api.add_route("/names/<name>/<string(length=2):code>", noop, name="names")
    api.add_route("/files/<path:rest>", noop, name="files")
    api.add_route("/pages/[...slug]", noop, name="pages")
    api.add_route("/wiki/[[...slug]]", noop, name="wiki")
    api.add_route("/upload", noop, ["POST"], body_parser=False, name="upload")
    api.add_route("/both", noop, ["GET", "POST"], body=TodoSchema, name="both")
    api.add_route("/only", noop, ["PATCH"], body=TodoSchema(partial=True), name="only")
    api.add_route("/", functools.partial(todo_get), name="root")
    return api


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return rich_api().openapi()


def op(doc: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    operation: dict[str, Any] = doc["paths"][path][method]
    return operation


def errors(operation: dict[str, Any]) -> list[int]:
    return sorted(int(code) for code in operation["responses"] if int(code) >= 400)


# -- the document as a whole ------------------------------------------------------------


def test_the_rich_document_validates_in_both_versions(doc: dict[str, Any]) -> None:
    validate_spec(doc)
    validate_spec(build_spec(rich_api(), openapi_version="3.0.3"))
    assert doc["openapi"] == "3.1.0"
    assert doc["info"] == {"title": "Rich", "version": "2.1.0"}


@pytest.mark.parametrize(
    "module",
    ["examples.hello.wsgi", "examples.embed.wsgi", "examples.pages.wsgi", "examples.proxy.wsgi"],
)
def test_every_example_validates(module: str) -> None:
    api = importlib.import_module(module).api
    document = api.openapi()
    validate_spec(document)
    validate_spec(build_spec(api, openapi_version="3.0.3"))
    assert document["paths"]


def test_defaults_and_an_empty_api() -> None:
    document = Api().openapi()
    validate_spec(document)
    assert document["info"] == {"title": "microapi", "version": "0.1.0"}
    assert document["paths"] == {}
    assert document["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status"]


def test_every_route_and_declared_method_no_automatic_head_or_options(
    doc: dict[str, Any],
) -> None:
    assert set(doc["paths"]["/todos"]) == {"get", "post"}
    assert set(doc["paths"]["/todos/{id}"]) == {"get", "delete", "parameters"}
    assert set(doc["paths"]["/both"]) == {"get", "post"}


def test_a_declared_head_is_an_operation() -> None:
    api = Api()
    api.add_route("/ping", noop, ["GET", "HEAD", "OPTIONS"])
    assert set(api.openapi()["paths"]["/ping"]) == {"get", "head", "options"}


# -- path parameters -------------------------------------------------------------------


def path_params(doc: dict[str, Any], path: str) -> dict[str, dict[str, Any]]:
    return {param["name"]: param for param in doc["paths"][path]["parameters"]}


@pytest.mark.parametrize(
    ("path", "name", "schema"),
    [
        ("/todos/{id}", "id", {"type": "integer", "minimum": 0}),
        ("/floats/{x}", "x", {"type": "number", "format": "double", "minimum": 0}),
        ("/signed/{n}", "n", {"type": "integer", "minimum": 1, "maximum": 5}),
        ("/things/{key}", "key", {"type": "string", "format": "uuid"}),
        ("/colors/{color}", "color", {"type": "string", "enum": ["green", "red"]}),
        ("/names/{name}/{code}", "name", {"type": "string"}),
        ("/names/{name}/{code}", "code", {"type": "string"}),
        ("/files/{rest}", "rest", {"type": "string"}),
        ("/pages/{slug}", "slug", {"type": "string"}),
        ("/wiki/{slug}", "slug", {"type": "string"}),
    ],
)
def test_path_parameters_are_typed_from_converters(
    doc: dict[str, Any], path: str, name: str, schema: dict[str, Any]
) -> None:
    param = path_params(doc, path)[name]
    assert param["in"] == "path"
    assert param["required"] is True
    assert param["schema"] == schema


def test_multi_segment_parameters_say_so(doc: dict[str, Any]) -> None:
    for path in ["/files/{rest}", "/pages/{slug}", "/wiki/{slug}"]:
        assert "/" in next(iter(path_params(doc, path).values()))["description"]


def test_an_optional_catch_all_is_two_paths(doc: dict[str, Any]) -> None:
    assert "parameters" not in doc["paths"]["/wiki"] or not doc["paths"]["/wiki"]["parameters"]
    assert op(doc, "/wiki", "get")["operationId"] == "wiki_root"
    assert op(doc, "/wiki/{slug}", "get")["operationId"] == "wiki"
    assert 404 not in errors(op(doc, "/wiki", "get"))
    assert 404 in errors(op(doc, "/wiki/{slug}", "get"))


def test_a_custom_converter_is_a_string() -> None:
    class Hex(BaseConverter):
        regex = "[0-9a-f]+"

    api = Api()
    api._table.map.converters["hex"] = Hex
    api.add_route("/colors/<hex:value>", noop)
    document = api.openapi()
    assert path_params(document, "/colors/{value}")["value"]["schema"] == {"type": "string"}


def test_two_rules_on_one_openapi_path_keep_the_first() -> None:
    api = Api()
    api.add_route("/items/<int:id>", todo_get, name="by_number")
    api.add_route("/items/<id>", noop, name="by_name")
    document = api.openapi()
    validate_spec(document)
    assert op(document, "/items/{id}", "get")["operationId"] == "by_number"


# -- query, body, responses ---------------------------------------------------------------


def test_query_parameters_come_from_the_query_schema(doc: dict[str, Any]) -> None:
    params = {param["name"]: param for param in op(doc, "/todos", "get")["parameters"]}
    assert set(params) == {"limit", "tag"}
    assert params["limit"]["in"] == "query"
    assert params["limit"]["schema"] == {
        "type": "integer",
        "default": 20,
        "minimum": 1,
        "maximum": 100,
    }
    assert params["tag"]["schema"]["type"] == "array"
    assert params["tag"]["explode"] is True


def test_the_request_body_lists_the_accepted_content_types(doc: dict[str, Any]) -> None:
    body = op(doc, "/todos", "post")["requestBody"]
    assert body["required"] is True
    assert list(body["content"]) == [
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ]
    for media in body["content"].values():
        assert media["schema"] == {"$ref": "#/components/schemas/Todo"}
    todo = doc["components"]["schemas"]["Todo"]
    assert todo["required"] == ["title"]
    assert todo["properties"]["id"]["readOnly"] is True
    assert todo["properties"]["note"]["type"] == ["string", "null"]


def test_no_request_body_for_get_nor_without_a_body_schema(doc: dict[str, Any]) -> None:
    assert "requestBody" not in op(doc, "/both", "get")
    assert "requestBody" in op(doc, "/both", "post")
    assert "requestBody" not in op(doc, "/upload", "post")


def test_a_schema_instance_with_modifiers_is_inline(doc: dict[str, Any]) -> None:
    schema = op(doc, "/only", "patch")["requestBody"]["content"]["application/json"]["schema"]
    assert "$ref" not in schema
    assert "required" not in schema  # partial=True
    assert set(schema["properties"]) == {"id", "title", "done", "note"}


def test_responses_use_the_status_and_response_schema(doc: dict[str, Any]) -> None:
    listed = op(doc, "/todos", "get")["responses"]["200"]
    assert listed["content"]["application/json"]["schema"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Todo"},
    }
    created = op(doc, "/todos", "post")["responses"]
    assert "200" not in created
    assert created["201"]["description"] == "Created"
    assert created["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Todo"
    }
    deleted = op(doc, "/todos/{id}", "delete")["responses"]["204"]
    assert deleted == {"description": "No Content"}
    assert op(doc, "/floats/{x}", "get")["responses"]["200"] == {"description": "OK"}


@pytest.mark.parametrize(
    ("path", "method", "codes"),
    [
        ("/floats/{x}", "get", [404, 405]),  # a parameter
        ("/", "get", [405]),  # static, nothing read
        ("/todos", "get", [400, 405, 422]),  # query=
        ("/todos", "post", [400, 405, 413, 415, 422]),  # body=
        ("/todos/{id}", "get", [404, 405]),
        ("/todos/{id}", "delete", [404, 405]),  # DELETE reads no body by default
        ("/upload", "post", [400, 405, 413]),  # a body, no schema
        ("/both", "get", [405]),  # body= is not loaded for GET
        ("/both", "post", [400, 405, 413, 415, 422]),
    ],
)
def test_error_responses_per_route_kind(
    doc: dict[str, Any], path: str, method: str, codes: list[int]
) -> None:
    operation = op(doc, path, method)
    assert errors(operation) == codes
    for code in codes:
        content = operation["responses"][str(code)]["content"]
        assert content == {"application/problem+json": {"schema": PROBLEM}}


def test_the_documented_errors_are_the_ones_answered() -> None:
    client = TestClient(rich_api())
    assert_problem(client.get("/floats/abc"), 404)
    assert_problem(client.put("/"), 405)
    assert_problem(client.get("/todos?limit=0"), 422)
    assert_problem(client.post("/todos", data="{", content_type="application/json"), 400)
    assert_problem(client.post("/todos", data="x", content_type="text/plain"), 415)
    assert_problem(client.post("/todos", json={}), 422)


# -- names, docs, tags ----------------------------------------------------------------------


def test_operation_ids_come_from_route_names(doc: dict[str, Any]) -> None:
    assert op(doc, "/todos", "get")["operationId"] == "todos.index"
    assert op(doc, "/todos", "post")["operationId"] == "todos.create"
    assert op(doc, "/todos/{id}", "get")["operationId"] == "todos.get"
    # One name, two methods: the method tells them apart.
    assert op(doc, "/both", "get")["operationId"] == "both_get"
    assert op(doc, "/both", "post")["operationId"] == "both_post"
    ids = [
        operation["operationId"]
        for item in doc["paths"].values()
        for key, operation in item.items()
        if key != "parameters"
    ]
    assert len(ids) == len(set(ids))


def test_one_name_registered_twice_gets_the_method() -> None:
    api = Api()
    api.add_route("/todos", noop, ["GET"], name="todos")
    api.add_route("/todos", noop, ["POST"], name="todos")
    document = api.openapi()
    assert op(document, "/todos", "get")["operationId"] == "todos_get"
    assert op(document, "/todos", "post")["operationId"] == "todos_post"


def test_summary_and_description_come_from_the_docstring(doc: dict[str, Any]) -> None:
    got = op(doc, "/todos/{id}", "get")
    assert got["summary"] == "Get one todo."
    assert got["description"] == "Answers 404 when the todo does not exist."
    assert op(doc, "/todos", "post")["summary"] == "Create a todo."
    assert "description" not in op(doc, "/todos", "post")
    assert "summary" not in op(doc, "/floats/{x}", "get")
    # A partial is described by the function it wraps.
    assert op(doc, "/", "get")["summary"] == "Get one todo."


def test_tags_come_from_the_router_or_the_first_segment(doc: dict[str, Any]) -> None:
    assert op(doc, "/todos", "get")["tags"] == ["Todos"]
    assert op(doc, "/todos/{id}", "delete")["tags"] == ["Todos"]
    assert op(doc, "/floats/{x}", "get")["tags"] == ["floats"]
    assert op(doc, "/pages/{slug}", "get")["tags"] == ["pages"]
    assert "tags" not in op(doc, "/", "get")


def test_nested_routers_keep_their_own_tags() -> None:
    api = Api()
    outer = Router("/v1", tags=["v1"])
    inner = Router("/users", tags=["Users"])
    plain = Router("/teams")
    inner.add_route("/", noop)
    plain.add_route("/", noop, name="teams")
    outer.include(inner)
    outer.include(plain)
    api.include(outer)
    bare = Api()
    bare.add_route("/<id>", noop)
    document = api.openapi()
    assert op(document, "/v1/users", "get")["tags"] == ["Users"]
    assert op(document, "/v1/teams", "get")["tags"] == ["v1"]
    assert "tags" not in op(bare.openapi(), "/{id}", "get")
    assert api.routes()[0].tags == ("Users",)


def test_router_tags_must_be_a_list() -> None:
    with pytest.raises(TypeError, match=r"\['users'\]"):
        Router("/users", tags="users")


def test_schema_names_stay_unique_across_modules() -> None:
    other = type("TodoSchema", (Schema,), {"name": fields.Str(), "__module__": "elsewhere"})
    api = Api()
    api.add_route("/a", noop, ["POST"], body=TodoSchema, name="a")
    api.add_route("/b", noop, ["POST"], body=other, name="b")
    document = api.openapi()
    validate_spec(document)
    assert set(document["components"]["schemas"]) == {"Problem", "Todo", "elsewhere.TodoSchema"}


# -- caching ---------------------------------------------------------------------------


def test_the_document_is_built_once_after_the_first_request() -> None:
    api = Api()
    api.add_route("/a", noop)
    before = api.openapi()
    TestClient(api).get("/a")
    first = api.openapi()
    first["paths"].clear()  # the caller's own copy
    assert api.openapi() == before
    assert api._openapi is not None


# -- Api(docs=True) --------------------------------------------------------------------


def test_docs_are_off_by_default() -> None:
    client = TestClient(rich_api())
    for path in ["/openapi.json", "/docs", "/docs/static/swagger-ui-bundle.js"]:
        assert_problem(client.get(path), 404)


def test_openapi_json_is_served_and_leaves_out_the_docs_routes() -> None:
    api = rich_api(docs=True)
    response = TestClient(api).get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    document = response.json
    assert document == api.openapi()
    validate_spec(document)
    assert "servers" not in document
    assert not any(path.startswith(("/docs", "/openapi")) for path in document["paths"])
    # They are ordinary routes all the same.
    assert "microapi.docs" in [route.name for route in api.routes()]


def test_the_docs_page_has_a_strict_policy_and_no_inline_script() -> None:
    response = TestClient(rich_api(docs=True)).get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.mimetype_params["charset"] == "utf-8"
    policy = response.headers["Content-Security-Policy"]
    assert policy == DOCS_CSP
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["img-src"] == "'self' data:"
    assert "unsafe-inline" not in policy
    page = response.get_data(as_text=True)
    assert "<title>Rich 2.1.0</title>" in page
    assert '<script src="docs/static/init.js"></script>' in page
    assert "<script>" not in page
    assert "http" not in page.replace("http-equiv", "")  # no CDN


@pytest.mark.parametrize(
    ("name", "mimetype"),
    [
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
        ("favicon-32x32.png", "image/png"),
        ("favicon-16x16.png", "image/png"),
        ("init.js", "text/javascript"),
    ],
)
def test_static_files_are_served_with_their_types(name: str, mimetype: str) -> None:
    response = TestClient(rich_api(docs=True)).get(f"/docs/static/{name}")
    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert len(response.get_data()) > 100
    # One charset, on text types only.
    charset = "; charset=utf-8" if mimetype.startswith("text/") else ""
    assert response.headers["Content-Type"] == mimetype + charset


def test_the_start_up_script_loads_the_3_1_document() -> None:
    client = TestClient(rich_api(docs=True))
    script = client.get("/docs/static/init.js").get_data(as_text=True)
    # Relative to /docs, so that a mount prefix is kept.
    assert 'url: "openapi.json"' in script
    assert "validatorUrl: null" in script
    assert client.get("/openapi.json").json["openapi"] == "3.1.0"
    assert_problem(client.get("/docs/openapi-3.0.json"), 404)


def test_the_vendored_swagger_ui_is_version_5_with_its_licence() -> None:
    bundle = TestClient(rich_api(docs=True)).get("/docs/static/swagger-ui-bundle.js")
    # Swagger UI 5 is the first to render OpenAPI 3.1 (the OAS31 plugin).
    assert b"OpenAPI31" in bundle.get_data()
    assert "Apache License" in (SWAGGER_UI_DIR / "LICENSE").read_text()
    assert "swagger-ui-dist`](" in (SWAGGER_UI_DIR / "README.md").read_text()
    assert "**5." in (SWAGGER_UI_DIR / "README.md").read_text()


def test_bundle_files_are_revalidated_and_others_are_404() -> None:
    client = TestClient(rich_api(docs=True))
    first = client.get("/docs/static/swagger-ui.css")
    assert first.headers["Cache-Control"] == "public, max-age=3600"
    again = client.get(
        "/docs/static/swagger-ui.css", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304
    for name in ["index.html", "swagger-ui.js.map", "..%2Fsetup.cfg"]:
        assert_problem(client.get(f"/docs/static/{name}"), 404)


def test_docs_under_a_mount_prefix_name_the_server() -> None:
    client = TestClient(rich_api(docs=True))
    response = client.get("/openapi.json", environ_overrides={"SCRIPT_NAME": "/my api"})
    assert response.json["servers"] == [{"url": "/my%20api"}]


# -- security --------------------------------------------------------------------------


def secured_api(**options: Any) -> Api:
    api = Api(title="Secured", version="1.0.0", secret_key="k" * 32, **options)
    api.middleware(csrf())
    api.middleware(bearer_auth(), match="/api/private/:path*")
    api.middleware(bearer_auth(optional=True), match="/api/feed")

    @api.route("/api/private/me")
    def me(req: Request, res: Res) -> dict[str, str]:
        """Who the token is."""
        return {}

    @api.route("/api/private/notes", methods=["POST"])
    def note(req: Request, res: Res) -> dict[str, str]:
        return {}

    @api.route("/api/feed")
    def feed(req: Request, res: Res) -> dict[str, str]:
        return {}

    @api.route("/api/public")
    def public(req: Request, res: Res) -> dict[str, str]:
        return {}

    return api


def test_bearer_auth_and_csrf_add_security_schemes_and_requirements() -> None:
    document = secured_api().openapi()
    validate_spec(document)
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["type"] == "http"
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    assert {key: schemes["sessionCookie"][key] for key in ("type", "in", "name")} == {
        "type": "apiKey",
        "in": "cookie",
        "name": "session",
    }
    assert schemes["csrfToken"]["in"] == "header"
    assert schemes["csrfToken"]["name"] == "X-CSRF-Token"
    paths = document["paths"]
    assert paths["/api/private/me"]["get"]["security"] == [{"bearerAuth": []}]
    # csrf checks unsafe requests that carry the session cookie only.
    assert paths["/api/private/notes"]["post"]["security"] == [
        {"bearerAuth": [], "sessionCookie": [], "csrfToken": []},
        {"bearerAuth": []},
    ]
    # Optional credentials: anonymous requests are let through too.
    assert paths["/api/feed"]["get"]["security"] == [{"bearerAuth": []}, {}]
    assert "security" not in paths["/api/public"]["get"]


def test_the_session_scheme_names_the_apps_cookie() -> None:
    schemes = secured_api(session_cookie="sid").openapi()["components"]["securitySchemes"]
    assert schemes["sessionCookie"]["name"] == "sid"


def test_an_app_without_auth_middleware_has_no_security_schemes() -> None:
    document = rich_api().openapi()
    assert "securitySchemes" not in document.get("components", {})
    assert not any(
        "security" in operation
        for item in document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict)
    )


def test_keys_are_in_the_conventional_order() -> None:
    client = TestClient(secured_api(docs=True))
    document = client.get("/openapi.json", environ_overrides={"SCRIPT_NAME": "/v1"}).json
    assert list(document) == ["openapi", "info", "servers", "paths", "components"]
    order = ["tags", "summary", "operationId", "responses", "security"]
    assert list(document["paths"]["/api/private/me"]["get"]) == order
    note = list(secured_api().openapi()["paths"]["/api/private/notes"]["post"])
    assert note == ["tags", "operationId", "responses", "security"]
    rich = rich_api().openapi()
    assert list(rich) == ["openapi", "info", "paths", "components"]
    for item in rich["paths"].values():
        for method, operation in item.items():
            if method == "parameters":
                continue
            known = [key for key in OPERATION_ORDER if key in operation]
            assert list(operation) == known


OPERATION_ORDER = [
    "tags",
    "summary",
    "description",
    "operationId",
    "parameters",
    "requestBody",
    "responses",
    "security",
]
