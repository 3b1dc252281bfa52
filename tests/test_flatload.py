"""The fast load of flat schemas agrees with marshmallow's ``Schema.load``."""

from __future__ import annotations

import json
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

from microapi import Api
from microapi.flatload import flat_loader
from microapi.testing import TestClient
from tests.helpers import assert_problem


class Todo(Schema):
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
    fast = flat_loader(Todo(), None)
    assert fast is not None
    assert fast({"title": "x"}) == ({"title": "x", "done": False}, None)


def test_invalid_body_gives_marshmallows_messages_in_field_order() -> None:
    fast = flat_loader(Todo(), None)
    assert fast is not None
    _, errors = fast({"zzz": 1, "done": "maybe", "title": "", "aaa": 2})
    assert list(errors)[:2] == ["title", "done"]
    assert errors == {
        "title": ["Length must be between 1 and 200."],
        "done": ["Not a valid boolean."],
        "zzz": ["Unknown field."],
        "aaa": ["Unknown field."],
    }
    _assert_agrees(Todo(), {"zzz": 1, "done": "maybe", "title": "", "aaa": 2})


def test_exclude_drops_unknown_keys() -> None:
    _assert_agrees(Todo(), {"title": "x", "extra": 1}, EXCLUDE)
    fast = flat_loader(Todo(), EXCLUDE)
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
        pytest.param(Todo(many=True), None, id="many"),
        pytest.param(Todo(partial=True), None, id="partial"),
        pytest.param(Todo(partial=("title",)), None, id="partial-names"),
        pytest.param(Todo(), INCLUDE, id="include"),
        pytest.param(Todo(unknown=INCLUDE), None, id="include-own"),
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
