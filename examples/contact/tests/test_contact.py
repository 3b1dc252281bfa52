"""The contact example: forms and fetch, validation, CSRF, rate limit, storage."""

from __future__ import annotations

from pathlib import Path

import pytest

from examples.contact.db import Messages
from examples.contact.wsgi import create_api
from microapi.middleware import MemoryStore
from microapi.testing import TestClient
from tests.helpers import assert_problem

MESSAGE = {"name": "Ada", "email": "ada@example.com", "message": "Hello!"}


@pytest.fixture
def messages(tmp_path: Path) -> Messages:
    return Messages(tmp_path / "contact.db")


@pytest.fixture
def client(messages: Messages) -> TestClient:
    return TestClient(create_api(messages, secret_key="test key", limit_store=MemoryStore()))


def open_form(client: TestClient) -> str:
    """GET the page like a browser; return the CSRF token of its hidden field."""
    page = client.get("/contact")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    marker = 'name="csrf_token" value="'
    start = text.index(marker) + len(marker)
    return text[start : text.index('"', start)]


def test_the_form_page_starts_a_session_and_embeds_its_csrf_token(client: TestClient) -> None:
    token = open_form(client)
    assert token
    assert client.get_cookie("session") is not None
    assert client.get_cookie("csrf_token").value == token


def test_a_form_post_with_the_token_is_stored_and_redirected(
    client: TestClient, messages: Messages
) -> None:
    token = open_form(client)
    response = client.post("/api/contact", data={**MESSAGE, "csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"] == "/contact?sent=1"
    assert "Thank you" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert [(m["name"], m["message"]) for m in messages.all()] == [("Ada", "Hello!")]


def test_a_multipart_form_post_works_too(client: TestClient, messages: Messages) -> None:
    token = open_form(client)
    response = client.post(
        "/api/contact",
        data={**MESSAGE, "csrf_token": token},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    assert len(messages.all()) == 1


def test_a_form_post_without_the_token_is_refused_and_not_stored(
    client: TestClient, messages: Messages
) -> None:
    open_form(client)
    assert_problem(client.post("/api/contact", data=MESSAGE), 403)
    assert_problem(client.post("/api/contact", data={**MESSAGE, "csrf_token": "forged"}), 403)
    assert messages.all() == []


def test_fetch_clients_send_json_and_get_json(client: TestClient, messages: Messages) -> None:
    response = client.post("/api/contact", json=MESSAGE)
    assert response.status_code == 201
    assert response.json == {"id": 1, "received": True}
    assert messages.all()[0]["email"] == "ada@example.com"


def test_invalid_messages_get_422_naming_each_field(client: TestClient, messages: Messages) -> None:
    response = client.post("/api/contact", json={"name": "   ", "email": "nope", "message": ""})
    problem = assert_problem(response, 422)
    assert set(problem["errors"]) == {"name", "email", "message"}
    assert_problem(client.post("/api/contact", json=[MESSAGE]), 422)
    assert_problem(client.post("/api/contact", json={**MESSAGE, "name": "x" * 101}), 422)
    assert messages.all() == []


def test_other_content_types_and_oversized_bodies_are_refused(client: TestClient) -> None:
    assert_problem(client.post("/api/contact", data=b"hi", content_type="text/plain"), 415)
    huge = {**MESSAGE, "message": "x" * 20_000}
    assert_problem(client.post("/api/contact", json=huge), 413)


def test_five_messages_a_minute_per_client(client: TestClient, messages: Messages) -> None:
    statuses = [client.post("/api/contact", json=MESSAGE).status_code for _ in range(5)]
    assert statuses == [201] * 5
    limited = client.post("/api/contact", json=MESSAGE)
    assert_problem(limited, 429)
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    assert len(messages.all()) == 5
    # The page itself is not limited.
    assert client.get("/contact").status_code == 200


def test_another_site_cannot_post_the_form_for_its_visitors(
    client: TestClient, messages: Messages
) -> None:
    # No session yet, but the browser says where the form came from.
    for cross_site in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        assert_problem(client.post("/api/contact", data=MESSAGE, headers=cross_site), 403)
    assert messages.all() == []


def test_the_default_files_live_next_to_the_example(monkeypatch: pytest.MonkeyPatch) -> None:
    # Not two directories up, in the repository's var/ (which may not exist, and
    # which SQLiteStore would refuse to create).
    from examples.contact import db, wsgi

    here = Path(db.__file__).resolve().parent
    assert here / "contact.db" == db.DEFAULT_DATABASE
    assert here / "contact-limits.db" == wsgi.DEFAULT_LIMITS_DATABASE
    monkeypatch.delenv(db.DATABASE_ENV, raising=False)
    assert Messages().path == here / "contact.db"
    monkeypatch.setenv(db.DATABASE_ENV, "/srv/contact/messages.db")
    assert Messages().path == Path("/srv/contact/messages.db")  # or a configured path
