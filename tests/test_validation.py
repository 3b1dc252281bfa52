"""Validation: ``body=``, ``query=``, ``response=`` schemas and ``status=``."""

from __future__ import annotations

import datetime
import io
import json
import logging
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from marshmallow import (
    EXCLUDE,
    INCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates,
    validates_schema,
)
from werkzeug.datastructures import MultiDict

from microapi import Api, HTTPError, Request, Res, Router
from microapi.testing import TestClient
from microapi.types import Next
from microapi.validation import (
    Flag,
    ResponseDumpError,
    SchemaLoader,
    flat_loader,
    prepare_route,
)

from .helpers import assert_problem


class Todo(Schema):
    title = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    done = fields.Bool(load_default=False)
    tags = fields.List(fields.Str(), load_default=list)


class Address(Schema):
    city = fields.Str(required=True)
    zip = fields.Str(required=True, validate=validate.Length(equal=5))


class Person(Schema):
    name = fields.Str(required=True)
    age = fields.Int(required=True)
    address = fields.Nested(Address, required=True)


class Page(Schema):
    limit = fields.Int(load_default=20, validate=validate.Range(min=1, max=100))
    offset = fields.Int(load_default=0, validate=validate.Range(min=0))
    tag = fields.List(fields.Str(), data_key="tag", load_default=list)
    done = fields.Bool()


class TodoOut(Schema):
    id = fields.Int()
    title = fields.Str()
    due = fields.Date()


class Tree(Schema):
    name = fields.Str()
    kids = fields.List(fields.Nested(lambda: Tree()))


def _echo_body(req: Request, res: Res) -> Any:
    return {"body": req.body}


# -- registration --------------------------------------------------------------


def test_schema_classes_are_instantiated_once_at_registration(api: Api) -> None:
    made: list[Schema] = []

    class Counted(Schema):
        title = fields.Str()

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            made.append(self)

    route = api.add_route("/c", _echo_body, ["POST"], body=Counted, response=Counted)
    assert len(made) == 2
    assert route.body is made[0]
    assert route.response is made[1]
    client = TestClient(api)
    for _ in range(3):
        assert client.post("/c", json={"title": "a"}).status_code == 200
    assert len(made) == 2  # never per request


def test_schema_instances_are_kept_as_given(api: Api) -> None:
    body = Todo(many=True)
    query = Page(partial=True)
    route = api.add_route("/t", _echo_body, ["POST"], body=body, query=query)
    assert route.body is body
    assert route.query is query


def test_router_routes_keep_their_schemas(api: Api, client: TestClient) -> None:
    router = Router(prefix="/todos", name="todos")
    router.add_route("/", _echo_body, ["POST"], body=Todo, status=201)
    api.include(router)
    (route,) = api.routes()
    assert isinstance(route.body, Todo)
    assert route.status == 201
    assert client.post("/todos", json={}).status_code == 422
    assert client.post("/todos", json={"title": "a"}).status_code == 201


@pytest.mark.parametrize("option", ["body", "query", "response"])
@pytest.mark.parametrize(
    "value",
    [{"title": fields.Str()}, fields.Str(), "Todo", object, 42, [Todo]],
)
def test_a_schema_option_that_is_not_a_schema_is_a_type_error(
    api: Api, option: str, value: Any
) -> None:
    with pytest.raises(TypeError, match=rf"route '/x' \('create'\): {option}= takes a marshmallow"):
        api.add_route("/x", _echo_body, ["POST"], name="create", **{option: value})


@pytest.mark.parametrize("status", [0, 99, 600, "201", 201.0, True, -1])
def test_a_bad_status_is_a_value_error(api: Api, status: Any) -> None:
    with pytest.raises(ValueError, match=r"route '/x' \('x'\): status= must be an int"):
        api.add_route("/x", _echo_body, name="x", status=status)


def test_query_with_many_is_a_type_error(api: Api) -> None:
    with pytest.raises(TypeError, match="query= cannot be a many=True schema"):
        api.add_route("/x", _echo_body, query=Page(many=True))


def test_body_with_body_parser_false_is_a_type_error(api: Api) -> None:
    with pytest.raises(TypeError, match="body= needs the body parsed"):
        api.add_route("/x", _echo_body, ["POST"], body=Todo, body_parser=False)


# -- status= ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("returned", "status", "content_type"),
    [
        ({"id": 1}, 201, "application/json"),
        ([1, 2], 201, "application/json"),
        ("made", 201, "text/plain; charset=utf-8"),
        (b"made", 201, "application/octet-stream"),
        (({"id": 1}, 200), 200, "application/json"),
        (({"id": 1}, 202, {"X-A": "1"}), 202, "application/json"),
    ],
)
def test_status_applies_to_returned_values_without_a_status(
    api: Api, client: TestClient, returned: Any, status: int, content_type: str
) -> None:
    api.add_route("/x", lambda req, res: returned, ["POST"], name="x", status=201)
    response = client.post("/x")
    assert response.status_code == status
    assert response.content_type == content_type


def test_status_applies_to_json_send_and_end(api: Api, client: TestClient) -> None:
    @api.route("/json", methods=["POST"], status=201)
    def send_json(req: Request, res: Res) -> None:
        assert res.status_code == 201
        res.json({"ok": True})

    @api.route("/send", methods=["POST"], status=201)
    def send(req: Request, res: Res) -> None:
        res.send("made")

    @api.route("/gone", methods=["DELETE"], status=204)
    def gone(req: Request, res: Res) -> None:
        res.end()

    @api.route("/explicit", methods=["POST"], status=201)
    def explicit(req: Request, res: Res) -> None:
        res.status(200).json({"ok": True})

    @api.route("/redirect", methods=["POST"], status=201)
    def redirect(req: Request, res: Res) -> None:
        res.redirect("/elsewhere")

    assert client.post("/json").status_code == 201
    assert client.post("/send").status_code == 201
    gone_response = client.delete("/gone")
    assert (gone_response.status_code, gone_response.data) == (204, b"")
    assert client.post("/explicit").status_code == 200
    assert client.post("/redirect").status_code == 307


def test_status_is_not_used_for_errors_or_middleware_answers(api: Api, client: TestClient) -> None:
    @api.middleware(match="/blocked")
    def block(req: Request, res: Res, next: Next) -> Any:
        return {"blocked": True}

    @api.route("/missing", status=201)
    def missing(req: Request, res: Res) -> None:
        raise HTTPError(404, "no such thing")

    api.add_route("/blocked", lambda req, res: {"never": True}, name="blocked", status=201)
    assert_problem(client.get("/missing"), 404)
    assert client.get("/blocked").status_code == 200


def test_routes_without_status_keep_200(api: Api, client: TestClient) -> None:
    api.add_route("/x", lambda req, res: {"id": 1}, ["POST"], name="x")
    assert client.post("/x").status_code == 200


def test_status_with_an_async_handler(api: Api, client: TestClient) -> None:
    @api.route("/a", methods=["POST"], status=201, body=Todo)
    async def create(req: Request, res: Res) -> Any:
        return req.body

    response = client.post("/a", json={"title": "t"})
    assert (response.status_code, response.json) == (201, {"title": "t", "done": False, "tags": []})
    assert client.post("/a", json={}).status_code == 422
    api.close()


# -- body=: JSON -------------------------------------------------------------------


def test_a_valid_json_body_is_loaded_into_req_body(api: Api, client: TestClient) -> None:
    seen: list[Any] = []

    @api.route("/todos", methods=["POST"], body=Todo)
    def create(req: Request, res: Res) -> Any:
        seen.append(req.body)
        return {"raw": req.get_data(as_text=True)}

    response = client.post("/todos", json={"title": "milk", "tags": ["a"]})
    assert response.status_code == 200
    assert seen == [{"title": "milk", "done": False, "tags": ["a"]}]
    assert response.json == {"raw": '{"title": "milk", "tags": ["a"]}'}


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "application/merge-patch+json"],
)
def test_json_media_types_are_accepted(api: Api, client: TestClient, content_type: str) -> None:
    api.add_route("/t", _echo_body, ["PATCH"], body=Todo)
    response = client.patch("/t", data=b'{"title": "x"}', content_type=content_type)
    assert response.json == {"body": {"title": "x", "done": False, "tags": []}}


def test_post_load_objects_reach_the_handler(api: Api, client: TestClient) -> None:
    class Made(Schema):
        when = fields.Date(required=True)

        @post_load
        def make(self, data: dict[str, Any], **kwargs: Any) -> tuple[str, datetime.date]:
            return ("made", data["when"])

    @api.route("/m", methods=["POST"], body=Made)
    def made(req: Request, res: Res) -> Any:
        assert req.body == ("made", datetime.date(2026, 1, 2))
        return {"ok": True}

    assert client.post("/m", json={"when": "2026-01-02"}).json == {"ok": True}


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({"title": 5}, {"title": ["Not a valid string."]}),
        ({"title": ""}, {"title": ["Length must be between 1 and 200."]}),
        ({"title": "x" * 201}, {"title": ["Length must be between 1 and 200."]}),
        ({}, {"title": ["Missing data for required field."]}),
        ({"title": None}, {"title": ["Field may not be null."]}),
        ({"title": ["a"]}, {"title": ["Not a valid string."]}),
        ({"title": "x", "done": "maybe"}, {"done": ["Not a valid boolean."]}),
        ({"title": "x", "tags": "a"}, {"tags": ["Not a valid list."]}),
        (
            {"title": "x", "tags": ["a", 2, {}]},
            {"tags": {1: ["Not a valid string."], 2: ["Not a valid string."]}},
        ),
        ({"title": "x", "admin": True}, {"admin": ["Unknown field."]}),
        ({"title": "x", "__proto__": {}}, {"__proto__": ["Unknown field."]}),
        ([{"title": "x"}], {"_schema": ["Invalid input type."]}),
        ("title", {"_schema": ["Invalid input type."]}),
        (42, {"_schema": ["Invalid input type."]}),
        (None, {"_schema": ["Invalid input type."]}),
    ],
)
def test_schema_failures_are_422_with_marshmallow_messages(
    api: Api, client: TestClient, payload: Any, errors: dict[Any, Any]
) -> None:
    ran: list[bool] = []

    @api.route("/todos", methods=["POST"], body=Todo)
    def create(req: Request, res: Res) -> Any:
        ran.append(True)
        return {}

    data = json.dumps(payload).encode()
    problem = assert_problem(client.post("/todos", data=data, content_type="application/json"), 422)
    # JSON object keys are strings: list indexes arrive as "1".
    assert problem["errors"] == _json_keys(errors)
    assert problem["detail"] == "the request body is invalid"
    assert ran == []


def _json_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _json_keys(item) for key, item in value.items()}
    return value


def test_a_flat_message_from_handle_error_becomes_schema_errors(
    api: Api, client: TestClient
) -> None:
    class Flat(Schema):
        title = fields.Str(required=True)

        def handle_error(self, error: ValidationError, data: Any, **kwargs: Any) -> None:
            raise ValidationError("invalid todo")

    api.add_route("/f", _echo_body, ["POST"], body=Flat)
    problem = assert_problem(client.post("/f", json={}), 422)
    assert problem["errors"] == {"_schema": ["invalid todo"]}


def test_nested_errors_are_nested_dicts(api: Api, client: TestClient) -> None:
    api.add_route("/people", _echo_body, ["POST"], body=Person)
    payload = {"name": "Ada", "age": "old", "address": {"city": 3, "zip": "123", "planet": "Mars"}}
    problem = assert_problem(client.post("/people", json=payload), 422)
    assert problem["errors"] == {
        "age": ["Not a valid integer."],
        "address": {
            "city": ["Not a valid string."],
            "zip": ["Length must be 5."],
            "planet": ["Unknown field."],
        },
    }


@pytest.mark.parametrize(
    ("meta_unknown", "expected"),
    [(EXCLUDE, {"title": "x"}), (INCLUDE, {"title": "x", "extra": 1})],
)
def test_meta_unknown_is_honoured_for_bodies(
    api: Api, client: TestClient, meta_unknown: str, expected: dict[str, Any]
) -> None:
    class Lenient(Schema):
        title = fields.Str()

        class Meta:
            unknown = meta_unknown

    api.add_route("/l", _echo_body, ["POST"], body=Lenient)
    assert client.post("/l", json={"title": "x", "extra": 1}).json == {"body": expected}


def test_inherited_meta_and_instance_unknown_are_honoured(api: Api, client: TestClient) -> None:
    class Base(Schema):
        class Meta:
            unknown = EXCLUDE

    class Child(Base):
        title = fields.Str()

    class Plain(Schema):
        title = fields.Str()

    api.add_route("/child", _echo_body, ["POST"], body=Child)
    api.add_route("/inst", _echo_body, ["POST"], name="inst", body=Plain(unknown=INCLUDE))
    assert client.post("/child", json={"title": "x", "extra": 1}).json == {"body": {"title": "x"}}
    assert client.post("/inst", json={"title": "x", "extra": 1}).json == {
        "body": {"title": "x", "extra": 1}
    }


@pytest.mark.parametrize("headers", [{}, {"Content-Type": "application/json"}])
def test_an_empty_body_is_422(api: Api, client: TestClient, headers: dict[str, str]) -> None:
    api.add_route("/todos", _echo_body, ["POST"], body=Todo)
    problem = assert_problem(client.post("/todos", headers=headers), 422)
    assert problem["errors"] == {"_schema": ["A request body is required."]}


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_json_sent_as_a_form_is_422_saying_the_content_type_is_the_cause(
    api: Api, client: TestClient, content_type: str
) -> None:
    # What `curl -d '{"title": "x"}'` sends: JSON text with a form's content type.
    api.add_route("/todos", _echo_body, ["POST"], body=Todo)
    data: Any = '{"title": "x"}'
    if content_type == "multipart/form-data":
        data = {data: ""}  # one field, named by the JSON
    response = client.post("/todos", data=data, content_type=content_type)
    problem = assert_problem(response, 422)
    assert problem["detail"] == (
        f"the request body is invalid: the body looks like JSON but was sent as {content_type}; "
        "send it with Content-Type: application/json"
    )
    assert problem["errors"]["title"] == ["Missing data for required field."]


def test_a_bad_form_is_422_saying_it_was_read_as_a_form(api: Api, client: TestClient) -> None:
    api.add_route("/todos", _echo_body, ["POST"], body=Todo)
    problem = assert_problem(client.post("/todos", data={"titel": "x"}), 422)
    assert problem["detail"] == (
        "the request body is invalid (read as form fields, as sent: "
        "application/x-www-form-urlencoded; JSON needs application/json)"
    )
    # The same mistake in JSON says nothing about the content type.
    problem = assert_problem(client.post("/todos", json={"titel": "x"}), 422)
    assert problem["detail"] == "the request body is invalid"


def test_an_empty_form_is_the_empty_form(api: Api, client: TestClient) -> None:
    # An empty urlencoded body encodes {}: loaded through the schema, so
    # required fields are named and an all-optional schema accepts it.
    class Patch(Schema):
        title = fields.Str()

    api.add_route("/todos", _echo_body, ["POST"], body=Todo)
    api.add_route("/patch", _echo_body, ["PATCH"], name="patch", body=Patch)
    form = "application/x-www-form-urlencoded"
    response = client.post("/todos", content_type=form)
    assert assert_problem(response, 422)["errors"] == {
        "title": ["Missing data for required field."]
    }
    assert client.patch("/patch", content_type=form).json == {"body": {}}


@pytest.mark.parametrize(
    ("content_type", "culprit"),
    [
        ("text/plain", "content type 'text/plain'"),
        ("application/xml", "content type 'application/xml'"),
        ("application/jsonx", "content type 'application/jsonx'"),
        ("application/octet-stream", "content type 'application/octet-stream'"),
        (None, "a body without a content type"),
    ],
)
def test_a_body_that_is_not_json_or_a_form_is_415(
    api: Api, client: TestClient, content_type: str | None, culprit: str
) -> None:
    api.add_route("/todos", _echo_body, ["POST"], body=Todo)
    environ: dict[str, Any] = {"CONTENT_TYPE": content_type} if content_type else {}
    response = client.post("/todos", data=b'{"title": "x"}', environ_overrides=environ)
    if content_type is None:
        assert "Content-Type" not in response.request.headers
    problem = assert_problem(response, 415)
    assert problem["detail"] == (
        f"{culprit} is not accepted; send one of: application/json, application/*+json, "
        "application/x-www-form-urlencoded, multipart/form-data"
    )


@pytest.mark.parametrize("data", [b'{"title": ', b"\xff\xfe", b"[" * 600 + b"]" * 600, b"NaN"])
def test_malformed_json_is_400(api: Api, client: TestClient, data: bytes) -> None:
    api.add_route("/todos", _echo_body, ["POST"], body=Todo)
    assert_problem(client.post("/todos", data=data, content_type="application/json"), 400)


def test_the_body_limit_applies(api: Api, client: TestClient) -> None:
    api.add_route("/todos", _echo_body, ["POST"], body=Todo, body_limit=20)
    response = client.post("/todos", json={"title": "x" * 30})
    assert_problem(response, 413)


def test_get_and_head_on_a_body_route_are_not_validated(api: Api, client: TestClient) -> None:
    @api.route("/todos", methods=["GET", "POST"], body=Todo)
    def todos(req: Request, res: Res) -> Any:
        return {"method": req.method, "body": req.body}

    assert client.get("/todos").json == {"method": "GET", "body": None}
    assert client.head("/todos").status_code == 200
    assert_problem(client.post("/todos"), 422)
    assert client.post("/todos", json={"title": "t"}).json["body"]["title"] == "t"


def test_a_huge_list_of_bad_items_is_422_with_every_index(api: Api, client: TestClient) -> None:
    api.add_route("/todos", _echo_body, ["POST"], body=Todo)
    tags = [0] * 50_000
    problem = assert_problem(client.post("/todos", json={"title": "x", "tags": tags}), 422)
    assert len(problem["errors"]["tags"]) == 50_000
    assert problem["errors"]["tags"]["49999"] == ["Not a valid string."]


def test_a_huge_valid_list_loads(api: Api, client: TestClient) -> None:
    api.add_route("/todos", _echo_body, ["POST"], body=Todo)
    tags = ["t"] * 50_000
    assert client.post("/todos", json={"title": "x", "tags": tags}).json["body"]["tags"] == tags


def test_deep_nesting_for_a_recursive_schema_is_422_not_500(api: Api, client: TestClient) -> None:
    api.add_route("/tree", _echo_body, ["POST"], body=Tree)
    shallow: dict[str, Any] = {"name": "leaf"}
    for _ in range(10):
        shallow = {"name": "n", "kids": [shallow]}
    assert client.post("/tree", json=shallow).status_code == 200
    depth = 250  # 500 JSON levels: within the parser's limit
    data = b'{"kids":[' * depth + b"{}" + b"]}" * depth
    response = client.post("/tree", data=data, content_type="application/json")
    assert assert_problem(response, 422)["errors"] == {"_schema": ["Nested too deeply."]}


def test_huge_numbers_are_422_not_500(api: Api, client: TestClient) -> None:
    class Numbers(Schema):
        ratio = fields.Float()
        amount = fields.Decimal(places=2)

    api.add_route("/n", _echo_body, ["POST"], body=Numbers)
    data = b'{"ratio": 1' + b"0" * 400 + b"}"
    assert_problem(client.post("/n", data=data, content_type="application/json"), 422)
    assert_problem(client.post("/n", json={"amount": "1e999999999"}), 422)


def test_middleware_runs_first_and_sees_validation_errors(api: Api, client: TestClient) -> None:
    seen: list[Any] = []

    @api.middleware
    def watch(req: Request, res: Res, next: Next) -> None:
        res.set_header("X-Seen", "1")
        seen.append(req.body)  # the raw parsed body: validation runs inside
        try:
            next()
        except HTTPError as exc:
            seen.append(exc.code)
            raise

    api.add_route("/todos", _echo_body, ["POST"], body=Todo)
    response = client.post("/todos", json={"title": 1})
    assert_problem(response, 422)
    assert response.headers["X-Seen"] == "1"
    assert seen == [{"title": 1}, 422]


def test_a_middleware_can_short_circuit_before_validation(api: Api, client: TestClient) -> None:
    @api.middleware
    def deny(req: Request, res: Res, next: Next) -> Any:
        return {"denied": True}, 401

    api.add_route("/todos", _echo_body, ["POST"], body=Todo)
    response = client.post("/todos", data=b"garbage", content_type="text/plain")
    assert (response.status_code, response.json) == (401, {"denied": True})


def test_an_error_handler_can_reshape_422(api: Api, client: TestClient) -> None:
    @api.errorhandler(422)
    def invalid(req: Request, res: Res, exc: HTTPError) -> Any:
        return {"fields": sorted(exc.extensions["errors"])}, 400

    api.add_route("/todos", _echo_body, ["POST"], body=Todo)
    response = client.post("/todos", json={"admin": 1})
    assert (response.status_code, response.json) == (400, {"fields": ["admin", "title"]})


# -- body=: forms --------------------------------------------------------------------


def test_an_urlencoded_form_is_loaded(api: Api, client: TestClient) -> None:
    api.add_route("/todos", _echo_body, ["POST"], body=Todo)
    form = MultiDict([("title", "first"), ("title", "second"), ("tags", "a"), ("tags", "b")])
    form.add("done", "true")
    response = client.post("/todos", data=form)
    assert response.json == {"body": {"title": "first", "done": True, "tags": ["a", "b"]}}


def test_a_multipart_form_is_loaded(api: Api, client: TestClient) -> None:
    import io

    @api.route("/todos", methods=["POST"], body=Todo)
    def create(req: Request, res: Res) -> Any:
        return {"body": req.body, "files": list(req.files)}

    data = {"title": "x", "tags": ["one", "two"], "file": (io.BytesIO(b"abc"), "a.txt")}
    response = client.post("/todos", data=data)
    # Files stay in req.files; the schema loads the fields.
    assert response.json == {
        "body": {"title": "x", "done": False, "tags": ["one", "two"]},
        "files": ["file"],
    }


def test_form_failures_are_422(api: Api, client: TestClient) -> None:
    api.add_route("/people", _echo_body, ["POST"], body=Person)
    problem = assert_problem(
        client.post("/people", data={"name": "Ada", "age": "x", "role": "admin"}), 422
    )
    assert problem["errors"] == {
        "age": ["Not a valid integer."],
        "address": ["Missing data for required field."],
        "role": ["Unknown field."],
    }


def test_a_malformed_form_is_400(api: Api, client: TestClient) -> None:
    api.add_route("/todos", _echo_body, ["POST"], body=Todo)
    response = client.post(
        "/todos", data=b"--x\r\ngarbage", content_type="multipart/form-data; boundary=x"
    )
    assert_problem(response, 400)
    response = client.post(
        "/todos", data=b"title=%FF\xff", content_type="application/x-www-form-urlencoded"
    )
    assert_problem(response, 400)


# -- body=: many=True ------------------------------------------------------------------


def test_many_bodies(api: Api, client: TestClient) -> None:
    api.add_route("/bulk", _echo_body, ["POST"], body=Todo(many=True))
    response = client.post("/bulk", json=[{"title": "a"}, {"title": "b", "done": True}])
    assert response.json == {
        "body": [
            {"title": "a", "done": False, "tags": []},
            {"title": "b", "done": True, "tags": []},
        ]
    }
    problem = assert_problem(client.post("/bulk", json=[{"title": "a"}, {"x": 1}, 3]), 422)
    assert problem["errors"] == {
        "1": {"title": ["Missing data for required field."], "x": ["Unknown field."]},
        "2": {"_schema": ["Invalid input type."]},
    }
    problem = assert_problem(client.post("/bulk", json={"title": "a"}), 422)
    assert problem["errors"] == {"_schema": ["Invalid input type."]}
    assert client.post("/bulk", json=[]).json == {"body": []}


# -- query= --------------------------------------------------------------------------------


def test_the_query_is_loaded_into_req_query(api: Api, client: TestClient) -> None:
    @api.route("/todos", query=Page)
    def index(req: Request, res: Res) -> Any:
        return {"query": req.query, "args": req.args.to_dict(flat=False)}

    response = client.get("/todos?limit=5&tag=a&tag=b&done=true&utm_source=x&limit=7")
    assert response.json == {
        "query": {"limit": 5, "offset": 0, "tag": ["a", "b"], "done": True},
        "args": {
            "limit": ["5", "7"],
            "tag": ["a", "b"],
            "done": ["true"],
            "utm_source": ["x"],
        },
    }
    assert client.get("/todos").json["query"] == {"limit": 20, "offset": 0, "tag": []}


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        (
            "limit=0",
            {"limit": ["Must be greater than or equal to 1 and less than or equal to 100."]},
        ),
        ("limit=abc", {"limit": ["Not a valid integer."]}),
        ("limit=", {"limit": ["Not a valid integer."]}),
        ("limit=1e3", {"limit": ["Not a valid integer."]}),
        ("offset=-1", {"offset": ["Must be greater than or equal to 0."]}),
        ("done=perhaps", {"done": ["Not a valid boolean."]}),
        ("limit=" + "9" * 5000, {"limit": ["Not a valid integer."]}),
        ("limit=%FF", {"limit": ["Not a valid integer."]}),
    ],
)
def test_an_invalid_query_is_422(
    api: Api, client: TestClient, query: str, errors: dict[str, Any]
) -> None:
    ran: list[bool] = []

    @api.route("/todos", query=Page)
    def index(req: Request, res: Res) -> Any:
        ran.append(True)
        return {}

    problem = assert_problem(client.get(f"/todos?{query}"), 422)
    assert problem["errors"] == errors
    assert problem["detail"] == "the query string is invalid"
    assert ran == []


def test_a_non_utf8_query_is_400(api: Api, client: TestClient) -> None:
    api.add_route("/todos", _echo_body, query=Page)
    response = client.get("/todos", environ_overrides={"QUERY_STRING": "limit=\xff"})
    assert_problem(response, 400)


def test_a_query_schema_may_reject_unknown_parameters(api: Api, client: TestClient) -> None:
    class Strict(Schema):
        q = fields.Str()

        class Meta:
            unknown = RAISE

    api.add_route("/s", _echo_body, query=Strict)
    problem = assert_problem(client.get("/s?q=a&utm=1"), 422)
    assert problem["errors"] == {"utm": ["Unknown field."]}


def test_query_errors_come_before_body_errors(api: Api, client: TestClient) -> None:
    api.add_route("/todos", _echo_body, ["POST"], query=Page, body=Todo)
    problem = assert_problem(client.post("/todos?limit=x", json={}), 422)
    assert problem["errors"] == {"limit": ["Not a valid integer."]}
    response = client.post("/todos?limit=2", json={"title": "t"})
    assert response.json == {"body": {"title": "t", "done": False, "tags": []}}


def test_routes_without_schemas_keep_raw_values(api: Api, client: TestClient) -> None:
    @api.route("/raw", methods=["POST"])
    def raw(req: Request, res: Res) -> Any:
        return {"query": req.query.to_dict(flat=False), "body": req.body.to_dict(flat=False)}

    response = client.post("/raw?a=1&a=2", data={"x": "1"})
    assert response.json == {"query": {"a": ["1", "2"]}, "body": {"x": ["1"]}}


# -- response= -------------------------------------------------------------------------------


def test_returned_values_are_dumped(api: Api, client: TestClient) -> None:
    due = datetime.date(2026, 5, 1)
    api.add_route(
        "/t", lambda req, res: {"id": 1, "title": "a", "due": due, "secret": "s"}, response=TodoOut
    )
    assert client.get("/t").json == {"id": 1, "title": "a", "due": "2026-05-01"}


def test_objects_are_dumped_by_attribute(api: Api, client: TestClient) -> None:
    class Row:
        id = 7
        title = "from the database"
        password = "hunter2"

    @api.route("/row", response=TodoOut)
    def row(req: Request, res: Res) -> None:
        res.json(Row())

    assert client.get("/row").json == {"id": 7, "title": "from the database"}


def test_res_json_send_and_tuples_are_dumped(api: Api, client: TestClient) -> None:
    value = {"id": 1, "title": "a", "secret": "s"}

    @api.route("/json", response=TodoOut)
    def send_json(req: Request, res: Res) -> None:
        res.status(201).json(value)

    @api.route("/send", response=TodoOut)
    def send(req: Request, res: Res) -> None:
        res.send(value)

    api.add_route("/tuple", lambda req, res: (value, 201), name="tuple", response=TodoOut)
    for path in ("/json", "/send", "/tuple"):
        assert client.get(path).json == {"id": 1, "title": "a"}, path


def test_text_bodies_are_not_dumped(api: Api, client: TestClient) -> None:
    api.add_route("/t", lambda req, res: "plain", name="t", response=TodoOut)
    assert client.get("/t").data == b"plain"


@pytest.mark.parametrize("status", [301, 400, 404, 409, 500])
def test_non_2xx_bodies_are_not_dumped(api: Api, client: TestClient, status: int) -> None:
    value = {"error": "nope", "id": "not an int"}

    @api.route("/returned", response=TodoOut)
    def returned(req: Request, res: Res) -> Any:
        return value, status

    @api.route("/sent", response=TodoOut)
    def sent(req: Request, res: Res) -> None:
        res.status(status).json(value)

    assert client.get("/returned").json == value
    assert client.get("/sent").json == value


def test_error_responses_are_never_dumped(api: Api, client: TestClient) -> None:
    @api.errorhandler(LookupError)
    def lookup(req: Request, res: Res, exc: Exception) -> Any:
        return {"items": [], "note": "fallback"}, 200

    @api.route("/raise", response=TodoOut)
    def raises(req: Request, res: Res) -> None:
        raise HTTPError(404, "gone", errors={"id": ["bad"]})

    @api.route("/handled", response=TodoOut)
    def handled(req: Request, res: Res) -> None:
        raise KeyError("x")

    problem = assert_problem(client.get("/raise"), 404)
    assert problem["errors"] == {"id": ["bad"]}
    assert client.get("/handled").json == {"items": [], "note": "fallback"}


def test_many_responses(api: Api, client: TestClient) -> None:
    rows = [{"id": 1, "title": "a", "x": 0}, {"id": 2, "title": "b", "x": 0}]
    api.add_route("/list", lambda req, res: rows, name="list", response=TodoOut(many=True))
    assert client.get("/list").json == [{"id": 1, "title": "a"}, {"id": 2, "title": "b"}]
    head = client.head("/list")
    assert (head.status_code, head.data) == (200, b"")


def test_a_dump_failure_is_a_logged_500_naming_the_route(
    api: Api, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    api.add_route(
        "/todos/<int:id>", lambda req, res: {"id": "seven"}, name="todo", response=TodoOut
    )
    with caplog.at_level(logging.ERROR, logger="microapi.error"):
        problem = assert_problem(client.get("/todos/7"), 500)
    assert "x7" not in str(problem)
    (record,) = [r for r in caplog.records if r.name == "microapi.error"]
    assert "(route todo)" in record.getMessage()
    assert record.exc_info is not None
    error = record.exc_info[1]
    assert isinstance(error, ResponseDumpError)
    assert str(error).startswith(
        "route 'todo' (/todos/<int:id>): response schema TodoOut could not dump a dict body"
    )


def test_a_failing_dump_method_is_a_500(api: Api, client: TestClient) -> None:
    class Broken(Schema):
        value = fields.Function(lambda obj: 1 / 0)

    api.add_route("/b", lambda req, res: {"value": 1}, name="b", response=Broken)
    assert_problem(client.get("/b"), 500)


def test_schemas_work_together(api: Api, client: TestClient) -> None:
    @api.route("/todos", methods=["POST"], body=Todo, response=TodoOut, status=201)
    def create(req: Request, res: Res) -> Any:
        res.set_header("Location", "/todos/1")
        return {"id": 1, **req.body}

    response = client.post("/todos", json={"title": "milk"})
    assert (response.status_code, response.json) == (201, {"id": 1, "title": "milk"})
    assert response.headers["Location"] == "/todos/1"
    bad = client.post("/todos", json={"title": ""})
    assert_problem(bad, 422)
    assert "Location" not in bad.headers


# -- the loading step, as composed -------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data; boundary=b", "text/plain", "application/octet-stream", "a/b+json"],
)
def test_an_empty_body_is_422_whatever_its_type(
    api: Api, client: TestClient, content_type: str
) -> None:
    # Emptiness is judged before the content type: no 415 for nothing.
    api.add_route("/todos", _echo_body, ["POST"], body=Todo)
    response = client.post("/todos", input_stream=io.BytesIO(b""), content_type=content_type)
    assert response.request.headers["Content-Type"] == content_type
    problem = assert_problem(response, 422)
    assert problem["detail"] == "the request body is empty"
    assert problem["errors"] == {"_schema": ["A request body is required."]}


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        (b'{"title": ""}', "application/json", 422),
        (b"[1, 2]", "application/json", 422),
        (b'{"title": ', "application/json", 400),
        (b"\xff", "application/json", 400),
        (b"x", "text/plain", 415),
        (b"", "application/json", 422),
    ],
)
def test_error_answers_carry_no_exception_context(
    api: Api, client: TestClient, data: bytes, content_type: str, status: int
) -> None:
    # The 4xx exceptions are raised outside the except blocks that caught
    # marshmallow's or the decoder's: nothing chained, no stale traceback.
    seen: list[BaseException] = []

    @api.errorhandler(status)
    def record(req: Request, res: Res, exc: HTTPError) -> Any:
        seen.append(exc)
        return {"status": status}, status

    api.add_route("/todos", _echo_body, ["POST"], body=Todo)
    response = client.post("/todos", data=data, content_type=content_type)
    assert (response.status_code, response.json) == (status, {"status": status})
    assert len(seen) == 1
    assert seen[0].__context__ is None
    assert seen[0].__cause__ is None


def test_a_recursion_failure_carries_no_exception_context() -> None:
    loader = SchemaLoader(Tree(), RAISE, "request body")
    document: dict[str, Any] = {"name": "leaf"}
    for _ in range(2000):
        document = {"name": "n", "kids": [document]}
    with pytest.raises(HTTPError) as caught:
        loader.load(document)
    assert caught.value.code == 422
    assert caught.value.extensions["errors"] == {"_schema": ["Nested too deeply."]}
    assert caught.value.__context__ is None


def test_every_option_together(api: Api, client: TestClient) -> None:
    # query=, body=, response= and status= on one route run as one step.
    @api.route(
        "/todos", methods=["GET", "POST"], query=Page, body=Todo, response=TodoOut, status=201
    )
    def todos(req: Request, res: Res) -> Any:
        body = req.body if req.method == "POST" else {"title": "none"}
        return {"id": req.query["limit"], "secret": 1, **body}

    response = client.post("/todos?limit=3&utm=x", json={"title": "milk"})
    assert (response.status_code, response.json) == (201, {"id": 3, "title": "milk"})
    # GET and HEAD: the query is loaded, the body is not.
    response = client.get("/todos?limit=4", data=b"not json", content_type="text/plain")
    assert (response.status_code, response.json) == (201, {"id": 4, "title": "none"})
    assert client.head("/todos").status_code == 201
    # Each failure stops the step where it happens.
    problem = assert_problem(client.post("/todos?limit=x", json={"title": ""}), 422)
    assert problem["errors"] == {"limit": ["Not a valid integer."]}
    problem = assert_problem(client.post("/todos?limit=2", json={"title": ""}), 422)
    assert problem["detail"] == "the request body is invalid"
    assert_problem(client.post("/todos", data=b"x", content_type="text/plain"), 415)


def test_two_options_together(api: Api, client: TestClient) -> None:
    api.add_route("/a", _echo_body, ["POST"], name="a", body=Todo, status=202)
    api.add_route("/b", lambda req, res: dict(req.query), name="b", query=Page, response=Page)
    response = client.post("/a", json={"title": "t"})
    assert (response.status_code, response.json["body"]["title"]) == (202, "t")
    assert assert_problem(client.post("/a", json={}), 422)["errors"] == {
        "title": ["Missing data for required field."]
    }
    assert client.get("/b?offset=2").json == {"limit": 20, "offset": 2, "tag": []}


def test_a_route_without_options_gets_no_step(api: Api) -> None:
    api.add_route("/plain", _echo_body)
    (route,) = api.routes()
    assert prepare_route(route) is None


# -- Flag ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "loaded"), [(True, True), (False, False), ("true", True), ("false", False)]
)
def test_flag_takes_a_boolean_or_its_form_spelling(value: Any, loaded: bool) -> None:
    class Done(Schema):
        done = Flag()

    assert Done().load({"done": value}) == {"done": loaded}


@pytest.mark.parametrize("value", [0, 1, 1.0, "1", "yes", "on", "True", None, [], {}])
def test_flag_refuses_what_is_not_a_boolean(value: Any) -> None:
    class Done(Schema):
        done = Flag(allow_none=False)

    with pytest.raises(ValidationError) as info:
        Done().load({"done": value})
    assert "done" in info.value.messages_dict


def test_flag_is_a_boolean_in_the_openapi_document() -> None:
    class Done(Schema):
        done = Flag(load_default=False)

    api = Api()

    @api.route("/done", methods=["POST"], body=Done)
    def done(req: Request, res: Res) -> dict[str, Any]:
        return req.body

    schema = api.openapi()["components"]["schemas"]["Done"]
    assert schema["properties"]["done"] == {"type": "boolean", "default": False}
    client = TestClient(api)
    assert client.post("/done", data={"done": "true"}).json == {"done": True}
    assert_problem(client.post("/done", json={"done": 1}), 422)


# -- the fast load of flat schemas agrees with marshmallow's Schema.load --------


class FlatTodo(Schema):
    title = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    done = fields.Bool(load_default=False)


def _marshmallow(schema: Schema, data: Any, unknown: Any) -> tuple[Any, Any]:
    try:
        return schema.load(data, unknown=unknown), None
    except ValidationError as exc:
        return None, exc.messages


def _ordered(value: Any) -> str:
    # Key order matters (it is the order of the 422's members).
    return json.dumps(value, default=repr)


def _assert_agrees(schema: Schema, data: Any, unknown: Any = None) -> None:
    fast = flat_loader(schema, unknown)
    assert fast is not None
    assert _ordered(fast(data)) == _ordered(_marshmallow(schema, data, unknown))


def test_valid_body_loads_with_defaults() -> None:
    fast = flat_loader(FlatTodo(), None)
    assert fast is not None
    assert fast({"title": "x"}) == ({"title": "x", "done": False}, None)


def test_invalid_body_gives_marshmallows_messages_in_field_order() -> None:
    fast = flat_loader(FlatTodo(), None)
    assert fast is not None
    _, errors = fast({"zzz": 1, "done": "maybe", "title": "", "aaa": 2})
    assert list(errors)[:2] == ["title", "done"]
    assert errors == {
        "title": ["Length must be between 1 and 200."],
        "done": ["Not a valid boolean."],
        "zzz": ["Unknown field."],
        "aaa": ["Unknown field."],
    }
    _assert_agrees(FlatTodo(), {"zzz": 1, "done": "maybe", "title": "", "aaa": 2})


def test_exclude_drops_unknown_keys() -> None:
    _assert_agrees(FlatTodo(), {"title": "x", "extra": 1}, EXCLUDE)
    fast = flat_loader(FlatTodo(), EXCLUDE)
    assert fast is not None
    assert fast({"title": "x", "extra": 1}) == ({"title": "x", "done": False}, None)


def test_data_key_attribute_and_custom_unknown_message() -> None:
    class Renamed(Schema):
        class Meta:
            unknown = RAISE

        error_messages = {"unknown": "Not expected here."}  # noqa: RUF012
        first = fields.Str(data_key="firstName", attribute="first_name", required=True)
        secret = fields.Str(load_only=True)
        shown = fields.Str(dump_only=True)

    for data in (
        {"firstName": "Ada", "secret": "s"},
        {"first": "Ada", "shown": "no"},
        {"firstName": 3},
    ):
        _assert_agrees(Renamed(), data)


def test_messages_are_copies() -> None:
    shared = ["shared message"]

    def refuse(value: Any) -> None:
        raise ValidationError(shared)

    class Refusing(Schema):
        name = fields.Str(validate=refuse)

    fast = flat_loader(Refusing(), None)
    assert fast is not None
    _, errors = fast({"name": "x"})
    assert errors == {"name": ["shared message"]}
    errors["name"].append("changed")
    assert shared == ["shared message"]


def test_explicit_partial_false_is_passed_down_like_marshmallow() -> None:
    class Inner(Schema):
        value = fields.Int(required=True)

    class Outer(Schema):
        inner = fields.Nested(Inner(partial=True))

    for data in ({"inner": {}}, {"inner": {"value": "x"}}, {"inner": {"value": 1}}):
        _assert_agrees(Outer(partial=False), data)
        _assert_agrees(Outer(), data)


class _Hooked(Schema):
    name = fields.Str()


def _with_hook(decorator: Any) -> type[Schema]:
    def hook(self: Schema, data: Any, **kwargs: Any) -> Any:
        return data

    return type("Hooked", (Schema,), {"name": fields.Str(), "hook": decorator(hook)})


def _with_field_validator() -> type[Schema]:
    def check(self: Schema, value: Any, **kwargs: Any) -> None:
        return None

    return type("Checked", (Schema,), {"name": fields.Str(), "check": validates("name")(check)})


def _with_schema_validator() -> type[Schema]:
    def check(self: Schema, data: Any, **kwargs: Any) -> None:
        return None

    return type("Checked", (Schema,), {"name": fields.Str(), "check": validates_schema(check)})


def _overriding_handle_error() -> type[Schema]:
    def handle_error(self: Schema, error: Any, data: Any, **kwargs: Any) -> None:
        raise ValueError("custom")

    return type("Handling", (Schema,), {"name": fields.Str(), "handle_error": handle_error})


@pytest.mark.parametrize(
    ("schema", "unknown"),
    [
        pytest.param(_with_hook(pre_load)(), None, id="pre_load"),
        pytest.param(_with_hook(post_load)(), None, id="post_load"),
        pytest.param(_with_field_validator()(), None, id="validates"),
        pytest.param(_with_schema_validator()(), None, id="validates_schema"),
        pytest.param(_overriding_handle_error()(), None, id="handle_error"),
        pytest.param(FlatTodo(many=True), None, id="many"),
        pytest.param(FlatTodo(partial=True), None, id="partial"),
        pytest.param(FlatTodo(partial=("title",)), None, id="partial-names"),
        pytest.param(FlatTodo(), INCLUDE, id="include"),
        pytest.param(FlatTodo(unknown=INCLUDE), None, id="include-own"),
        pytest.param(Schema.from_dict({"name": fields.Str(attribute="a.b")})(), None, id="dotted"),
        pytest.param(
            Schema.from_dict({"name": fields.Str(data_key="_schema")})(), None, id="_schema"
        ),
        pytest.param(
            Schema.from_dict(
                {
                    "a": fields.Str(data_key="x", load_only=True),
                    "b": fields.Str(data_key="x", load_only=True),
                }
            )(),
            None,
            id="shared-data-key",
        ),
    ],
)
def test_other_schemas_keep_marshmallows_load(schema: Schema, unknown: Any) -> None:
    assert flat_loader(schema, unknown) is None


def test_a_route_with_a_hooked_schema_still_runs_its_hooks() -> None:
    class Normalised(Schema):
        title = fields.Str(required=True)

        @pre_load
        def strip(self, data: Any, **kwargs: Any) -> Any:
            return {**data, "title": data.get("title", "").strip()}

    api = Api()
    api.add_route("/t", lambda req, res: req.body, methods=["POST"], body=Normalised)
    assert TestClient(api).post("/t", json={"title": "  x "}).json == {"title": "x"}


class _Node(Schema):
    name = fields.Str()
    child = fields.Nested(lambda: _Node())


def test_a_self_nesting_body_within_the_depth_limit_is_a_422() -> None:
    api = Api()
    api.add_route("/node", lambda req, res: {"ok": True}, methods=["POST"], body=_Node)
    depth = 500
    raw = b'{"child": ' * depth + b"{}" + b"}" * depth
    response = TestClient(api).post("/node", data=raw, content_type="application/json")
    assert_problem(response, 422)


def test_form_bodies_go_through_the_fast_load() -> None:
    class Tagged(Schema):
        title = fields.Str(required=True)
        tags = fields.List(fields.Str())
        done = fields.Bool(load_default=False)

    api = Api()
    api.add_route("/todo", lambda req, res: req.body, methods=["POST"], body=Tagged)
    client = TestClient(api)
    ok = client.post("/todo", data={"title": "a", "tags": ["x", "y"]})
    assert ok.json == {"title": "a", "tags": ["x", "y"], "done": False}
    problem = assert_problem(client.post("/todo", data={"tags": "x", "zz": "1", "aa": "2"}), 422)
    assert next(iter(problem["errors"])) == "title"
    assert set(problem["errors"]) == {"title", "zz", "aa"}


# --- generated schemas and inputs -------------------------------------------

_json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
_json = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
_typed = st.sampled_from(
    ["", "x", "ada@example.com", "2024-05-01T10:00:00", "true", "1", "no", 0, 1, 5, 1.5, 300, -1]
)
_values = _typed | _json


def _field(kind: str, draw: st.DrawFn) -> fields.Field:
    options: dict[str, Any] = {}
    if draw(st.booleans()):
        options["required"] = True
    elif draw(st.booleans()):
        options["load_default"] = draw(st.sampled_from([None, 0, "d", list]))
    if draw(st.booleans()):
        options["allow_none"] = True
    if draw(st.booleans()):
        options["data_key"] = draw(st.sampled_from(["key", "other", "Name"]))
    if draw(st.booleans()):
        options["load_only"] = True
    match kind:
        case "str":
            lengths = validate.Length(min=1, max=draw(st.integers(1, 5)))
            return fields.Str(validate=[lengths, validate.NoneOf(["no"])], **options)
        case "int":
            strict = draw(st.booleans())
            return fields.Int(strict=strict, validate=validate.Range(0, 100), **options)
        case "float":
            return fields.Float(**options)
        case "bool":
            return fields.Bool(**options)
        case "email":
            return fields.Email(**options)
        case "list":
            return fields.List(fields.Int(), validate=validate.Length(max=2), **options)
        case "datetime":
            return fields.DateTime(**options)
        case "oneof":
            return fields.Str(validate=validate.OneOf(["a", "b"]), **options)
        case "nested":
            inner = Schema.from_dict({"n": fields.Int(required=True), "s": fields.Str()})
            return fields.Nested(inner, **options)
    return fields.Raw(**options)


_KINDS = ["str", "int", "float", "bool", "email", "list", "datetime", "oneof", "nested", "raw"]


@st.composite
def _schema_and_data(draw: st.DrawFn) -> tuple[Schema, dict[str, Any], Any]:
    names = draw(st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), max_size=4, unique=True))
    declared: dict[str, fields.Field] = {}
    for name in names:
        declared[name] = _field(draw(st.sampled_from(_KINDS)), draw)
    try:
        schema = Schema.from_dict(declared)()
    except ValueError:  # marshmallow refuses colliding data keys
        schema = Schema.from_dict({})()
    keys = [*declared, "key", "other", "Name", "zz", "_schema"]
    data = draw(st.dictionaries(st.sampled_from(keys) | st.text(max_size=3), _values, max_size=6))
    unknown = draw(st.sampled_from([None, RAISE, EXCLUDE]))
    return schema, data, unknown


@given(_schema_and_data())
def test_generated_schemas_agree_with_marshmallow(case: tuple[Schema, dict[str, Any], Any]) -> None:
    schema, data, unknown = case
    fast = flat_loader(schema, unknown)
    if fast is None:
        # Only two load-only fields sharing a data key take marshmallow's path.
        keys = [f.data_key or name for name, f in schema.load_fields.items()]
        assert len(set(keys)) < len(keys)
        return
    assert _ordered(fast(data)) == _ordered(_marshmallow(schema, data, unknown))
