"""The auth example: registration, bearer tokens, and a cookie session with CSRF."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from examples.auth.db import Users
from examples.auth.db import users as users_table
from examples.auth.wsgi import DEV_SECRET_KEY, create_api
from microapi import Api
from microapi.middleware import MemoryStore
from microapi.testing import TestClient
from tests.helpers import assert_problem

ADA = {"email": "ada@example.com", "name": "Ada", "password": "correct horse"}


def register(client: TestClient, **fields: str) -> Any:
    return client.post("/api/register", json={**ADA, **fields})


def token_for(client: TestClient) -> str:
    response = client.post("/api/login", json={"email": ADA["email"], "password": ADA["password"]})
    assert response.status_code == 200, response.json
    token: str = response.json["token"]
    return token


def test_register_creates_a_user_with_a_hashed_password(client: TestClient, users: Users) -> None:
    response = register(client)
    assert response.status_code == 201
    assert response.json == {"id": 1, "email": ADA["email"], "name": "Ada"}
    with users.database.transaction() as connection:
        stored = connection.execute(select(users_table.c.password_hash)).scalar_one()
    assert stored.startswith("scrypt:")
    assert ADA["password"] not in stored


def test_register_twice_is_a_conflict_whatever_the_case(client: TestClient) -> None:
    register(client)
    problem = assert_problem(register(client, email="ADA@example.com"), 409)
    assert problem["errors"] == {"email": ["taken"]}


def test_register_validates_every_field(client: TestClient) -> None:
    problem = assert_problem(register(client, email="not an email", password="short"), 422)
    assert set(problem["errors"]) == {"email", "password"}
    assert_problem(client.post("/api/register", json={**ADA, "admin": True}), 422)


def test_login_returns_a_bearer_token_for_me(client: TestClient) -> None:
    register(client)
    response = client.post("/api/login", json={"email": ADA["email"], "password": ADA["password"]})
    assert response.json["token_type"] == "Bearer"
    assert response.json["expires_in"] == 3600
    me = client.get("/api/me", headers={"Authorization": f"Bearer {response.json['token']}"})
    assert me.status_code == 200
    assert me.json == {"user": {"id": 1, "email": ADA["email"], "name": "Ada"}}


def test_wrong_password_and_unknown_user_get_the_same_answer(client: TestClient) -> None:
    register(client)
    wrong = client.post("/api/login", json={"email": ADA["email"], "password": "wrong horse"})
    unknown = client.post("/api/login", json={"email": "bob@example.com", "password": "x" * 8})
    assert assert_problem(wrong, 401) == assert_problem(unknown, 401)


def test_me_without_a_valid_token_is_401_with_a_bearer_challenge(
    client: TestClient, users: Users
) -> None:
    register(client)
    missing = client.get("/api/me")
    assert_problem(missing, 401)
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    forged = client.get("/api/me", headers={"Authorization": "Bearer " + token_for(client) + "x"})
    assert_problem(forged, 401)
    assert 'error="invalid_token"' in forged.headers["WWW-Authenticate"]
    other_key = create_api(users, secret_key="another key").tokens.issue({"sub": 1})
    assert_problem(client.get("/api/me", headers={"Authorization": f"Bearer {other_key}"}), 401)


def test_a_token_for_a_deleted_user_is_rejected(client: TestClient, api: Api) -> None:
    token = api.tokens.issue({"sub": 99})
    assert_problem(client.get("/api/me", headers={"Authorization": f"Bearer {token}"}), 401)


def session_login(client: TestClient) -> str:
    register(client)
    response = client.post(
        "/api/session/login", json={"email": ADA["email"], "password": ADA["password"]}
    )
    assert response.status_code == 200, response.json
    assert response.json["user"]["name"] == "Ada"
    token: str = response.json["csrf_token"]
    return token


def test_session_login_sets_a_signed_http_only_cookie(client: TestClient) -> None:
    register(client)
    response = client.post(
        "/api/session/login", json={"email": ADA["email"], "password": ADA["password"]}
    )
    cookies = response.headers.getlist("Set-Cookie")
    session = next(cookie for cookie in cookies if cookie.startswith("session="))
    assert "HttpOnly" in session
    assert "SameSite=Lax" in session
    csrf_cookie = next(cookie for cookie in cookies if cookie.startswith("csrf_token="))
    assert "HttpOnly" not in csrf_cookie  # readable by the page's script
    assert client.get("/api/session").json["user"]["id"] == 1


def test_unsafe_session_requests_need_the_csrf_token(client: TestClient) -> None:
    token = session_login(client)
    problem = assert_problem(client.patch("/api/session/me", json={"name": "Ada L."}), 403)
    assert "X-CSRF-Token" in problem["detail"]
    renamed = client.patch(
        "/api/session/me", json={"name": "Ada L."}, headers={"X-CSRF-Token": token}
    )
    assert renamed.status_code == 200
    assert client.get("/api/session").json["user"]["name"] == "Ada L."


def test_a_csrf_token_from_another_session_is_refused(api: Api) -> None:
    mallory = TestClient(api)
    register(mallory, email="mallory@example.com")
    stolen = mallory.post(
        "/api/session/login", json={"email": "mallory@example.com", "password": ADA["password"]}
    ).json["csrf_token"]
    victim = TestClient(api)
    session_login(victim)
    response = victim.patch(
        "/api/session/me", json={"name": "pwned"}, headers={"X-CSRF-Token": stolen}
    )
    assert_problem(response, 403)


def test_logout_clears_the_session(client: TestClient) -> None:
    token = session_login(client)
    response = client.post("/api/session/logout", headers={"X-CSRF-Token": token})
    assert response.status_code == 204
    assert any(cookie.startswith("session=;") for cookie in response.headers.getlist("Set-Cookie"))
    assert client.get("/api/session").json["user"] is None


def test_bearer_clients_are_not_subject_to_csrf(client: TestClient) -> None:
    # A cookie that is not the session cookie does not make a request CSRF-prone.
    client.set_cookie("theme", "dark")
    assert register(client).status_code == 201


def test_registrations_and_logins_are_rate_limited_per_client(users: Users) -> None:
    client = TestClient(create_api(users, secret_key="k", limit_store=MemoryStore()))
    assert register(client).status_code == 201  # counted too
    attempt = {"email": ADA["email"], "password": "wrong horse"}
    statuses = [client.post("/api/login", json=attempt).status_code for _ in range(9)]
    assert statuses == [401] * 9
    limited = client.post("/api/session/login", json=attempt)  # the same counter
    assert_problem(limited, 429)
    assert int(limited.headers["Retry-After"]) > 0
    assert_problem(register(client, email="bob@example.com"), 429)
    # Other routes are not limited.
    assert client.get("/api/session").status_code == 200


def test_behind_a_proxy_limits_count_the_forwarded_client(users: Users) -> None:
    client = TestClient(create_api(users, secret_key="k", limit_store=MemoryStore(), proxies=1))
    attempt = {"email": ADA["email"], "password": "wrong horse"}

    def login(forwarded_for: str) -> int:
        headers = {"X-Forwarded-For": forwarded_for, "X-Forwarded-Proto": "https"}
        response = client.post("/api/login", json=attempt, headers=headers)
        if response.status_code != 429:  # HSTS: the proxy said https
            assert "Strict-Transport-Security" in response.headers
        return response.status_code

    assert [login("10.0.0.1") for _ in range(11)] == [401] * 10 + [429]
    # Another client behind the same proxy has its own counter; a value the
    # client prepended (the proxy appends the real one) changes nothing.
    assert login("10.0.0.1, 10.0.0.2") == 401
    assert login("10.0.0.2, 10.0.0.1") == 429


def test_signing_key_is_passed_to_the_api(users: Users) -> None:
    api = create_api(users, secret_key=["old", "new"], signing_key="old")
    assert create_api(users, secret_key="old").tokens.verify(api.tokens.issue({"sub": 1})) == {
        "sub": 1
    }


def test_without_a_secret_key_the_example_uses_the_development_key(
    users: Users, monkeypatch: Any, caplog: Any
) -> None:
    monkeypatch.delenv("MICROAPI_SECRET_KEY", raising=False)
    api = create_api(users, limit_store=MemoryStore())
    assert "MICROAPI_SECRET_KEY is not set" in caplog.text
    token = create_api(users, secret_key=DEV_SECRET_KEY).tokens.issue({"sub": 1})
    assert api.tokens.verify(token) == {"sub": 1}


def test_another_site_cannot_log_its_visitors_in(client: TestClient) -> None:
    # A login CSRF: a form on another site posting the attacker's credentials.
    register(client)
    form = {"email": ADA["email"], "password": ADA["password"]}
    headers = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    assert_problem(client.post("/api/session/login", data=form, headers=headers), 403)
    assert client.get("/api/session").json["user"] is None
