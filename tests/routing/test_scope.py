"""Which ``match=`` patterns can apply to a route with parameters."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microapi import Api, Request, Res, Router
from microapi.routing.matchers import compile_matcher
from microapi.routing.scope import can_match, literal_prefix
from microapi.testing import TestClient


@pytest.mark.parametrize(
    ("source", "prefix"),
    [
        ("/admin/:path*", "/admin"),  # the slash belongs to the parameter: "/admin" matches
        ("/api/:id", "/api"),
        ("/api/users/(\\d+)", "/api/users"),
        ("/a\\:b/:x", "/a:b"),
        ("/static.css", "/static.css"),
        ("/", "/"),
        ("/:all*", ""),
    ],
)
def test_literal_prefix(source: str, prefix: str) -> None:
    assert literal_prefix(source) == prefix


@pytest.mark.parametrize(
    ("match", "rule", "expected"),
    [
        ("/admin/:path*", "/api/<id>", False),
        ("/admin/:path*", "/admin/<id>", True),
        ("/admin/:path*", "/<section>/x", True),  # <section> may be "admin"
        ("/api/users/:id", "/api/<kind>/x", True),
        ("/api/:id(\\d+)", "/api/<id>", True),  # possible: decided per request
        ("/api", "/app/<id>", False),
        (["/a/:x*", "/b/:x*"], "/b/<id>", True),
        (re.compile(r"/api/v\d+/.*"), "/api/v2/<id>", True),
        (re.compile(r"/api/v\d+/.*"), "/web/<id>", False),
        (re.compile(r"/x|/api/.*"), "/web/<id>", True),  # alternation: unsure
        (re.compile(r"/API/.*", re.IGNORECASE), "/api/<id>", True),
        (re.compile(r"/ab?c/.*"), "/ac/<id>", True),  # "b" is optional
        (re.compile(r"/a\.b/.*"), "/a.b/<id>", True),
        (re.compile(r"/a\.b/.*"), "/axb/<id>", False),
        (re.compile(r"/b[|]x/.*"), "/y/<id>", False),  # "|" in a class is no alternation
        (re.compile(r"\d+"), "/y/<id>", True),
    ],
)
def test_can_match(match: Any, rule: str, expected: bool) -> None:
    matcher = compile_matcher(match)
    assert matcher is not None
    assert can_match(matcher, [rule]) is expected


def test_a_routers_prefixed_matcher_is_judged_with_its_prefix() -> None:
    api = Api()
    admin = Router("/admin")

    @admin.middleware(match="/users/:path*")
    def users_only(req: Request, res: Res, next: Any) -> None:
        next()

    @admin.route("/users/<int:id>")
    def user(req: Request, res: Res) -> dict[str, int]:
        return {}

    @admin.route("/groups/<int:id>")
    def group(req: Request, res: Res) -> dict[str, int]:
        return {}

    api.include(admin)
    by_path = {route.path: route for route in api.routes()}
    assert [spec.func for spec in api.middleware_for(by_path["/admin/users/<int:id>"])] == [
        users_only
    ]
    assert api.middleware_for(by_path["/admin/groups/<int:id>"]) == []


def test_middleware_that_may_match_is_still_decided_per_request() -> None:
    api = Api()
    seen: list[str] = []

    @api.middleware(match="/api/:id(\\d+)")
    def digits(req: Request, res: Res, next: Any) -> None:
        seen.append(req.path)
        next()

    @api.middleware(match="/admin/:path*")
    def never(req: Request, res: Res, next: Any) -> None:
        raise AssertionError("never runs for /api/<id>")

    @api.route("/api/<id>")
    def item(req: Request, res: Res) -> dict[str, str]:
        return {"id": req.params["id"]}

    [route] = api.routes()
    assert [spec.func for spec in api.middleware_for(route)] == [digits]
    client = TestClient(api)
    assert client.get("/api/12").json == {"id": "12"}
    assert client.get("/api/x").json == {"id": "x"}
    assert seen == ["/api/12"]


_SEGMENT = st.sampled_from(["api", "admin", "a", "ab", "v1", "x.y"])


@given(
    route=st.lists(st.one_of(_SEGMENT, st.just("<p>")), min_size=1, max_size=4),
    pattern=st.lists(st.one_of(_SEGMENT, st.just(":q"), st.just(":q*")), min_size=1, max_size=4),
    values=st.lists(_SEGMENT, min_size=4, max_size=4),
)
def test_a_matcher_ruled_out_never_accepts_a_path_of_the_route(
    route: list[str], pattern: list[str], values: list[str]
) -> None:
    matcher = compile_matcher("/" + "/".join(pattern))
    assert matcher is not None
    rule = "/" + "/".join(route)
    if can_match(matcher, [rule]):
        return
    # Fill the route's parameters with any values: the matcher refuses them all.
    filled = iter(values)
    path = "/" + "/".join(next(filled) if part == "<p>" else part for part in route)
    assert not matcher(path)
