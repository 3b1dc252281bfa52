"""Security declared by middleware, as the OpenAPI document writes it."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate as validate_spec

from microapi import Api, HTTPError, Request, Res
from microapi.middleware import bearer_auth, csrf, rate_limit
from microapi.securitydoc import (
    Security,
    declare_responses,
    declare_security,
    operation_responses,
    operation_security,
    responses_of,
    security_of,
)

API_KEY = {"type": "apiKey", "in": "header", "name": "X-API-Key"}


def api_key(req: Request, res: Res, next: Any) -> None:
    if req.headers.get("X-API-Key") != "k":
        raise HTTPError(401, "send X-API-Key")
    next()


def test_a_custom_middleware_declares_its_scheme() -> None:
    security = Security(schemes={"apiKey": API_KEY}, requirements=({"apiKey": []},))

    def guard(req: Request, res: Res, next: Any) -> None:
        next()

    assert declare_security(guard, security) is guard
    assert security_of(guard) is security
    api = Api()
    api.middleware(guard, match="/private/:path*")

    @api.route("/private/data")
    def data(req: Request, res: Res) -> dict[str, int]:
        return {}

    @api.route("/public")
    def public(req: Request, res: Res) -> dict[str, int]:
        return {}

    document = api.openapi()
    validate_spec(document)
    assert document["components"]["securitySchemes"] == {"apiKey": API_KEY}
    assert document["paths"]["/private/data"]["get"]["security"] == [{"apiKey": []}]
    assert "security" not in document["paths"]["/public"]["get"]


def test_middleware_without_a_declaration_adds_nothing() -> None:
    assert security_of(api_key) is None
    assert operation_security(Api(), [api_key], "GET", {}) is None


def test_stacked_middleware_must_all_be_satisfied() -> None:
    first = Security(schemes={"a": API_KEY}, requirements=({"a": []}, {}))
    second = Security(
        schemes={"b": {"type": "http", "scheme": "bearer"}},
        requirements=({"b": ["read"]}, {"b": ["write"]}),
    )

    def one(req: Request, res: Res, next: Any) -> None:
        next()

    def two(req: Request, res: Res, next: Any) -> None:
        next()

    declare_security(one, first)
    declare_security(two, second)
    schemes: dict[str, dict[str, Any]] = {}
    security = operation_security(Api(), [one, two], "GET", schemes)
    assert security == [
        {"a": [], "b": ["read"]},
        {"a": [], "b": ["write"]},
        {"b": ["read"]},
        {"b": ["write"]},
    ]
    assert set(schemes) == {"a", "b"}


def test_unchecked_methods_have_no_requirement_and_anonymous_goes_last() -> None:
    def guard(req: Request, res: Res, next: Any) -> None:
        next()

    declare_security(
        guard,
        Security(
            schemes={"a": API_KEY},
            requirements=({}, {"a": []}),
            unchecked=frozenset({"GET"}),
        ),
    )
    assert operation_security(Api(), [guard], "GET", {}) is None
    assert operation_security(Api(), [guard], "POST", {}) == [{"a": []}, {}]


def test_schemes_may_depend_on_the_api() -> None:
    def guard(req: Request, res: Res, next: Any) -> None:
        next()

    def schemes(api: Api) -> dict[str, dict[str, Any]]:
        return {"c": {"type": "apiKey", "in": "cookie", "name": api.session_cookie}}

    declare_security(guard, Security(schemes=schemes, requirements=({"c": []},)))
    found: dict[str, dict[str, Any]] = {}
    operation_security(Api(session_cookie="sid"), [guard], "GET", found)
    assert found == {"c": {"type": "apiKey", "in": "cookie", "name": "sid"}}


def test_one_scheme_name_defined_twice_differently_is_an_error() -> None:
    def one(req: Request, res: Res, next: Any) -> None:
        next()

    def two(req: Request, res: Res, next: Any) -> None:
        next()

    declare_security(one, Security(schemes={"k": API_KEY}, requirements=({"k": []},)))
    other = {**API_KEY, "name": "X-Other"}
    declare_security(two, Security(schemes={"k": other}, requirements=({"k": []},)))
    with pytest.raises(ValueError, match="two security schemes named 'k'"):
        operation_security(Api(), [one, two], "GET", {})


def test_a_bound_method_cannot_carry_a_declaration() -> None:
    class Guard:
        def check(self, req: Request, res: Res, next: Any) -> None:
            next()

    with pytest.raises(TypeError, match="wrap it in a function"):
        declare_security(Guard().check, Security(schemes={}, requirements=()))
    with pytest.raises(TypeError, match="cannot declare the responses of"):
        declare_responses(Guard().check, {401: "x"})


# -- the statuses middleware answers ------------------------------------------------------


def _statuses(api: Api, path: str, method: str) -> dict[str, str]:
    responses = api.openapi()["paths"][path][method]["responses"]
    return {status: response["description"] for status, response in responses.items()}


def test_a_custom_middleware_declares_its_statuses() -> None:
    def guard(req: Request, res: Res, next: Any) -> None:
        api_key(req, res, next)

    assert declare_responses(guard, {401: "No valid X-API-Key."}) is guard
    api = Api()
    api.middleware(guard, match="/private/:path*")

    @api.route("/private/data", methods=["GET", "POST"])
    def data(req: Request, res: Res) -> dict[str, int]:
        return {}

    @api.route("/public")
    def public(req: Request, res: Res) -> dict[str, int]:
        return {}

    document = api.openapi()
    validate_spec(document)
    for method in ("get", "post"):
        private = document["paths"]["/private/data"][method]["responses"]
        assert private["401"]["description"] == "No valid X-API-Key."
        assert "application/problem+json" in private["401"]["content"]
    assert "401" not in document["paths"]["/public"]["get"]["responses"]


def test_the_built_in_middleware_declare_what_they_answer() -> None:
    api = Api(secret_key="k" * 32)
    api.middleware(csrf())
    api.middleware(rate_limit("5/minute", fail_open=False), match="/limited")
    api.middleware(bearer_auth(), match="/me")

    @api.route("/limited", methods=["GET", "POST"])
    def limited(req: Request, res: Res) -> dict[str, int]:
        return {}

    @api.route("/me")
    def me(req: Request, res: Res) -> dict[str, int]:
        return {}

    assert {"429", "503"} <= set(_statuses(api, "/limited", "get"))
    assert "403" not in _statuses(api, "/limited", "get")  # csrf: safe methods unchecked
    assert _statuses(api, "/limited", "post")["403"] == "CSRF token missing or invalid."
    assert {"400", "401"} <= set(_statuses(api, "/me", "get"))
    assert "429" not in _statuses(api, "/me", "get")
    assert "503" not in _statuses(_failing_open(), "/limited", "get")


def _failing_open() -> Api:
    api = Api()
    api.middleware(rate_limit("5/minute"))

    @api.route("/limited")
    def limited(req: Request, res: Res) -> dict[str, int]:
        return {}

    return api


def test_the_route_has_the_last_word_and_the_success_status_stays() -> None:
    def guard(req: Request, res: Res, next: Any) -> None:
        next()

    declare_responses(guard, {401: "the guard's", 201: "not the success", 409: "guard"})
    api = Api()
    api.middleware(guard)

    @api.route("/things", methods=["POST"], status=201, responses={409: "Taken.", 303: "See."})
    def create(req: Request, res: Res) -> dict[str, int]:
        return {}

    statuses = _statuses(api, "/things", "post")
    assert statuses["201"] == "Created"
    assert (statuses["409"], statuses["401"], statuses["303"]) == ("Taken.", "the guard's", "See.")
    responses = api.openapi()["paths"]["/things"]["post"]["responses"]
    assert "content" not in responses["303"]  # only errors are problem+json
    assert next(iter(responses)) == "201"


def test_responses_follow_the_middleware_order_and_skip_unchecked_methods() -> None:
    def outer(req: Request, res: Res, next: Any) -> None:
        next()

    def inner(req: Request, res: Res, next: Any) -> None:
        next()

    declare_responses(outer, {401: "outer"}, unchecked=["get"])
    declare_responses(inner, {401: "inner", 429: "inner"})
    assert responses_of(outer, "GET") == {}
    assert operation_responses([outer, inner], "GET") == {401: "inner", 429: "inner"}
    assert operation_responses([outer, inner], "POST") == {401: "outer", 429: "inner"}
    assert responses_of(api_key, "GET") == {}  # nothing declared on a plain function


@pytest.mark.parametrize(
    ("responses", "message"),
    [
        ({99: "x"}, "99 is not a status"),
        ({True: "x"}, "True is not a status"),
        ({"401": "x"}, "'401' is not a status"),
        ({401: 3}, "the description of 401 must be a string"),
    ],
)
def test_declared_statuses_are_checked(responses: Any, message: str) -> None:
    def guard(req: Request, res: Res, next: Any) -> None:
        next()

    with pytest.raises(ValueError, match=message):
        declare_responses(guard, responses)


def test_route_responses_are_checked() -> None:
    api = Api()

    def handler(req: Request, res: Res) -> None:
        return None

    for responses, message in [
        ([409], "responses= must be a dict"),
        ({600: "x"}, "keys must be statuses"),
        ({409: None}, r"responses\[409\] must be a description"),
    ]:
        with pytest.raises(ValueError, match=message):
            api.add_route("/x", handler, responses=responses)
