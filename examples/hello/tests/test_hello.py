"""The hello example, through the test client."""

from __future__ import annotations

import pytest

from examples.hello import wsgi
from microapi.testing import TestClient


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setattr(wsgi, "USERS", {1: {"id": 1, "name": "Ada"}})
    return TestClient(wsgi.api)


def test_hello(client: TestClient) -> None:
    response = client.get("/api/hello")
    assert response.status_code == 200
    assert response.json == {"message": "Hello API!"}
    assert response.headers["Server-Timing"].startswith("app;dur=")


def test_user_methods(client: TestClient) -> None:
    assert client.get("/api/users/1").json == {"id": 1, "name": "Ada"}
    assert client.put("/api/users/1", json={"name": "Grace"}).json == {"id": 1, "name": "Grace"}
    invalid = client.put("/api/users/1", json={"name": 3})
    assert invalid.status_code == 422
    assert invalid.json["errors"] == {"name": ["must be a string"]}
    assert client.delete("/api/users/1").status_code == 204
    missing = client.get("/api/users/1")
    assert (missing.status_code, missing.json["detail"]) == (404, "user 1 not found")
    assert client.get("/api/users/abc").status_code == 404
    assert client.post("/api/users/1").status_code == 405


def test_admin_middleware(client: TestClient) -> None:
    denied = client.get("/api/admin/stats")
    assert denied.status_code == 401
    assert denied.headers["WWW-Authenticate"] == "Bearer"
    assert "Server-Timing" in denied.headers
    allowed = client.get("/api/admin/stats", headers={"Authorization": "Bearer let-me-in"})
    assert allowed.json == {"users": 1}


def test_echo(client: TestClient) -> None:
    assert client.post("/api/echo", json={"a": 1}).json == {"bytes": 8, "body": {"a": 1}}
    assert client.post("/api/echo", data={"a": "1"}).json == {"bytes": 3, "body": {"a": "1"}}
