"""The contact example under real servers: the limit holds across workers."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

from examples.contact.db import Messages
from tests.helpers import serving

MESSAGE = {"name": "Ada", "email": "ada@example.com", "message": "Hello!"}


def post(address: tuple[str, int]) -> int:
    connection = http.client.HTTPConnection(*address, timeout=10)
    try:
        connection.request(
            "POST",
            "/api/contact",
            body=json.dumps(MESSAGE),
            headers={"Content-Type": "application/json"},
        )
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_five_messages_a_minute_across_all_workers(tmp_path: Path, server_name: str) -> None:
    env = {
        "CONTACT_DATABASE": str(tmp_path / "contact.db"),
        "CONTACT_LIMITS_DATABASE": str(tmp_path / "limits.db"),
        "MICROAPI_SECRET_KEY": "gunicorn test key",
    }
    app = "examples.contact.wsgi:api"
    with serving(app, tmp_path, server_name, workers=3, env=env) as address:
        statuses = [post(address) for _ in range(9)]
    assert sorted(statuses) == [201] * 5 + [429] * 4
    assert len(Messages(tmp_path / "contact.db").all()) == 5
