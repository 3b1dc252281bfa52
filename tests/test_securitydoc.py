"""Security declared by middleware, as the OpenAPI document writes it."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate as validate_spec

from microapi import Api, HTTPError, Request, Res
from microapi.securitydoc import Security, declare_security, operation_security, security_of

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
