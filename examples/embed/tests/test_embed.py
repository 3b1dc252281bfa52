"""The embed example: Flask outside, microapi inside, a legacy app inside that."""

from __future__ import annotations

from examples.embed.wsgi import site
from microapi.testing import TestClient


def test_flask_site_still_serves_its_pages() -> None:
    response = TestClient(site).get("/")
    assert response.status_code == 200
    assert b"existing Flask site" in response.data


def test_microapi_under_api_sees_relative_paths() -> None:
    response = TestClient(site).get("/api/todos")
    assert response.json == {"path": "/todos", "self": "/api/todos", "items": []}


def test_microapi_errors_under_the_mount() -> None:
    client = TestClient(site)
    assert client.get("/api/nope").status_code == 404
    redirect = client.get("/api/todos/")
    assert (redirect.status_code, redirect.headers["Location"]) == (308, "/api/todos")


def test_legacy_app_mounted_inside_microapi() -> None:
    response = TestClient(site).get("/api/legacy/report")
    assert response.data == b"legacy app at /api/legacy/report"
