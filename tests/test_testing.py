"""``TestClient``: werkzeug's client, buffering, with explicit Cookie headers kept."""

from __future__ import annotations

from typing import Any

from microapi import Api, Request, Res
from microapi.testing import TestClient


def cookie_echo() -> Api:
    api = Api()

    @api.route("/cookies")
    def cookies(req: Request, res: Res) -> dict[str, Any]:
        return {"header": req.environ.get("HTTP_COOKIE")}

    @api.route("/set")
    def set_cookie(req: Request, res: Res) -> None:
        res.cookie("kept", "1").end()

    return api


def test_an_explicit_cookie_header_is_sent_with_an_empty_jar() -> None:
    client = TestClient(cookie_echo())
    response = client.get("/cookies", headers={"Cookie": "theme=dark"})
    assert response.json == {"header": "theme=dark"}


def test_an_explicit_cookie_header_goes_before_the_kept_cookies() -> None:
    client = TestClient(cookie_echo())
    client.get("/set")
    assert client.get("/cookies").json == {"header": "kept=1"}
    response = client.get("/cookies", headers={"Cookie": "theme=dark"})
    assert response.json == {"header": "theme=dark; kept=1"}


def test_responses_are_buffered_and_parse_problem_json() -> None:
    response = TestClient(cookie_echo()).get("/missing")
    assert response.status_code == 404
    assert response.json["status"] == 404


def test_without_a_jar_the_cookie_header_is_sent_as_given() -> None:
    client = TestClient(cookie_echo(), use_cookies=False)
    assert client.get("/cookies", headers={"Cookie": "a=b"}).json == {"header": "a=b"}
