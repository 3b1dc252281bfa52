"""The users' storage: where it lives, how emails compare, races, hostile input and 503s."""

from __future__ import annotations

import logging
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select
from werkzeug.security import generate_password_hash

from examples.auth import db as db_module
from examples.auth.db import DEFAULT_URL, Users
from examples.auth.db import users as users_table
from examples.auth.wsgi import create_api
from microapi.middleware import MemoryStore
from microapi.testing import TestClient
from tests.helpers import ROOT, assert_problem

from .conftest import SECRET

PASSWORD = "correct horse"


def register(client: TestClient, email: str, **headers: str) -> Any:
    body = {"email": email, "name": "Émile", "password": PASSWORD}
    return client.post("/api/register", json=body, headers=headers)


def login(client: TestClient, email: str) -> int:
    return client.post("/api/login", json={"email": email, "password": PASSWORD}).status_code


def test_the_url_comes_from_auth_database_url_then_database_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AUTH_DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    here = Path(db_module.__file__).resolve().parent
    # Absolute, so the server's working directory does not matter.
    assert str(Users().database.url) == DEFAULT_URL == f"sqlite:///{here / 'auth.db'}"
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@db.example/shared")
    assert str(Users().database.url) == "postgresql+psycopg://app@db.example/shared"
    monkeypatch.setenv("AUTH_DATABASE_URL", "postgresql://app@db.example/users")
    assert str(Users().database.url) == "postgresql+psycopg://app@db.example/users"
    assert repr(Users("postgresql://app:secret@h/u")) == (
        "Users(Database('postgresql+psycopg://app:***@h/u'))"
    )


def test_nothing_is_opened_until_a_request_needs_the_users(tmp_path: Path) -> None:
    path = tmp_path / "auth.db"
    client = TestClient(
        create_api(Users(f"sqlite:///{path}"), secret_key=SECRET, limit_store=MemoryStore())
    )
    session = client.get("/api/session").json
    assert session["user"] is None  # no user id in the session: no query
    assert not path.exists()
    csrf = session["csrf_token"]
    assert register(client, "emile@example.com", **{"X-CSRF-Token": csrf}).status_code == 201
    assert path.is_file()
    # Only the users' table: the todos' metadata is not this database's.
    with sqlite3.connect(path) as connection:
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master")}
    assert tables == {"users", "users_email_lower_key"}


def test_importing_the_example_opens_no_database(tmp_path: Path) -> None:
    # gunicorn and granian fork after importing: engines are made per worker.
    code = "import sys, examples.auth.wsgi; print('psycopg' in sys.modules)"
    env = {"AUTH_DATABASE_URL": "postgresql://nobody@/none?host=/nonexistent", "PATH": ""}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_an_email_is_one_account_whatever_its_case_in_any_script(client: TestClient) -> None:
    created = register(client, "ÉMILE@Exemple.FR")
    assert created.status_code == 201
    assert created.json["email"] == "émile@exemple.fr"  # the form stored
    assert_problem(register(client, "émile@exemple.fr"), 409)
    assert_problem(register(client, "E\u0301MILE@EXEMPLE.fr"), 409)  # a combining accent
    for spelling in ("émile@exemple.fr", "ÉmIlE@eXeMpLe.fR", "e\u0301mile@exemple.fr"):
        assert login(client, spelling) == 200, spelling
    # Lowercased, not case-folded: these are two mailboxes.
    assert register(client, "straße@exemple.fr").status_code == 201
    assert register(client, "STRASSE@exemple.fr").status_code == 201
    assert login(client, "strasse@exemple.fr") == 200


def test_rows_written_by_other_tools_are_still_unique_and_found_by_lower(users: Users) -> None:
    # Not normalized (another tool wrote it): the index and the lookup fold its case.
    row = {
        "email": "Ada@Example.COM",
        "name": "Ada",
        "password_hash": generate_password_hash(PASSWORD),
    }
    with users.database.transaction(write=True) as connection:
        connection.execute(insert(users_table).values(**row))
    assert users.create("ada@example.com", "Ada again", PASSWORD) is None
    assert users.authenticate("ADA@example.com", PASSWORD) == {
        "id": 1,
        "email": "Ada@Example.COM",
        "name": "Ada",
    }


def test_an_unknown_email_costs_a_hash_check_too(
    users: Users, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    real = db_module.check_password_hash

    def counting(pwhash: str, password: str) -> bool:
        checked.append(pwhash)
        return real(pwhash, password)

    monkeypatch.setattr(db_module, "check_password_hash", counting)
    assert users.create("ada@example.com", "Ada", PASSWORD) is not None
    assert users.authenticate("bob@example.com", PASSWORD) is None
    assert users.authenticate("ada@example.com", "wrong horse") is None
    assert users.authenticate("ada@example.com", PASSWORD) is not None
    assert len(checked) == 3
    assert checked[0].startswith("scrypt:")  # the dummy: as slow as a real one
    assert checked[1] == checked[2] != checked[0]


def test_two_registrations_racing_for_one_email_make_one_account(users: Users) -> None:
    start = threading.Barrier(4)
    results: list[Any] = []

    def create(n: int) -> None:
        start.wait()
        results.append(users.create("RACE@example.com", f"racer {n}", PASSWORD))

    threads = [threading.Thread(target=create, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(result is None for result in results) == [False, True, True, True]
    with users.database.transaction() as connection:
        emails = connection.execute(select(users_table.c.email)).scalars().all()
    assert emails == ["race@example.com"]


@pytest.mark.parametrize("user_id", [True, "1", 1.0, None, 0, -1, 2**63, 2**200, [1], {"id": 1}])
def test_odd_ids_are_no_user(users: Users, user_id: object) -> None:
    assert users.create("ada@example.com", "Ada", PASSWORD) is not None
    assert users.get(1) is not None
    assert users.get(user_id) is None


def test_a_token_for_an_id_no_driver_binds_is_401(client: TestClient, api: Any) -> None:
    for sub in (2**64, -(2**70), True, "1"):
        token = api.tokens.issue({"sub": sub})
        response = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert_problem(response, 401)


REGISTRATION = {"email": "ada@example.com", "name": "Ada", "password": PASSWORD}
CREDENTIALS = {"email": "ada@example.com", "password": PASSWORD}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "x" * 243 + "@example.com"),  # 255 characters
        ("email", "İ" * 125 + "@example.com"),  # 137, but 262 once lowercased
        ("email", "a" * 500_000 + "@example.com"),
        ("email", "ada\x00@example.com"),
        ("email", "ada@example.com\n"),
        ("email", 42),
        ("email", ["ada@example.com"]),
        ("email", {"address": "ada@example.com"}),
        ("email", None),
        ("name", "Ada\x00"),
        ("name", "x" * 101),
        ("name", 7),
        ("password", "correct horse\x00"),
        ("password", "x" * 129),
        ("password", 12345678),
    ],
)
def test_hostile_registrations_are_422_and_store_nothing(
    client: TestClient, users: Users, field: str, value: Any
) -> None:
    response = client.post("/api/register", json={**REGISTRATION, field: value})
    assert field in assert_problem(response, 422)["errors"]
    with users.database.transaction() as connection:
        assert connection.execute(select(users_table.c.id)).all() == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/register", {**REGISTRATION, "email": "\ud800@example.com"}),
        ("/api/register", {**REGISTRATION, "name": "\udfff"}),
        ("/api/register", {**REGISTRATION, "password": "\ud800" * 8}),
        ("/api/login", {"email": "ada@example.com", "password": "\ud800" * 8}),
        ("/api/session/login", {"email": "\ud800@example.com", "password": PASSWORD}),
    ],
)
def test_lone_surrogates_are_400_before_any_schema(
    client: TestClient, users: Users, path: str, body: dict[str, Any]
) -> None:
    # microapi's JSON parser refuses them: no driver and no hash function sees one.
    assert "lone surrogate" in assert_problem(client.post(path, json=body), 400)["detail"]
    with users.database.transaction() as connection:
        assert connection.execute(select(users_table.c.id)).all() == []


@pytest.mark.parametrize(
    "body",
    [
        {"email": "ada@example.com", "password": "x" * 129},
        {"email": "İ" * 125 + "@example.com", "password": PASSWORD},
        {"email": ["ada@example.com"], "password": PASSWORD},
        {"email": "ada@example.com", "password": None},
    ],
)
def test_hostile_logins_are_422(client: TestClient, body: dict[str, Any]) -> None:
    assert client.post("/api/register", json=REGISTRATION).status_code == 201
    for path in ("/api/login", "/api/session/login"):
        assert_problem(client.post(path, json=body), 422)


def test_hostile_renames_are_422_and_change_nothing(client: TestClient) -> None:
    client.post("/api/register", json=REGISTRATION)
    session = client.post("/api/session/login", json=CREDENTIALS)
    csrf = {"X-CSRF-Token": session.json["csrf_token"]}
    for name in ("Ada\x00", "", "x" * 101, 3):
        response = client.patch("/api/session/me", json={"name": name}, headers=csrf)
        assert "name" in assert_problem(response, 422)["errors"]
    assert client.get("/api/session").json["user"]["name"] == "Ada"


def assert_unavailable(response: Any) -> None:
    problem = assert_problem(response, 503)
    assert response.headers["Retry-After"] == "1"
    assert problem["detail"] == "the database is busy or unreachable; retry shortly"
    assert "sql" not in response.get_data(as_text=True).lower()


def test_a_locked_sqlite_is_503_for_writes_and_reads_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "auth.db"
    users = Users(f"sqlite:///{path}", busy_timeout=0.05)
    api = create_api(users, secret_key=SECRET, limit_store=MemoryStore())
    browser, client = TestClient(api), TestClient(api)  # a session, and bearer-only calls
    assert client.post("/api/register", json=REGISTRATION).status_code == 201
    csrf = {"X-CSRF-Token": browser.post("/api/session/login", json=CREDENTIALS).json["csrf_token"]}
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with caplog.at_level(logging.WARNING):
            assert_unavailable(register(client, "bob@example.com"))
            assert_unavailable(browser.patch("/api/session/me", json={"name": "A"}, headers=csrf))
            # WAL: logins and sessions only read, and do not wait for the writer.
            assert login(client, REGISTRATION["email"]) == 200
            assert browser.get("/api/session").json["user"]["name"] == "Ada"
        holder.execute("ROLLBACK")
    finally:
        holder.close()
        users.database.dispose()
    warnings = [r.getMessage() for r in caplog.records if r.name == "examples.auth"]
    assert len(warnings) == 2
    assert warnings[0].startswith("database unavailable in POST '/api/register' [request_id=")
    assert not [r for r in caplog.records if r.name == "microapi.error"]  # no 500


def test_an_unreachable_postgresql_is_503_on_every_route_that_reads_users() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    users = Users(f"postgresql://auth@127.0.0.1:{port}/auth", connect_timeout=2)
    api = create_api(users, secret_key=SECRET, limit_store=MemoryStore())
    client = TestClient(api)
    try:
        assert_unavailable(client.post("/api/register", json=REGISTRATION))
        assert_unavailable(client.post("/api/login", json=CREDENTIALS))
        token = api.tokens.issue({"sub": 1})
        # bearer_auth's load_user reads the users: its error is a 503 too.
        assert_unavailable(client.get("/api/me", headers={"Authorization": f"Bearer {token}"}))
    finally:
        users.database.dispose()
