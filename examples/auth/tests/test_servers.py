"""The auth example under real servers: users and tokens shared by every worker.

Over each kind of database: the workers, forked after the import, each make
their own engine, and race to create the table on their first request.
"""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any

from tests.helpers import serving


def call(address: tuple[str, int], method: str, path: str, body: Any = None, **headers: str) -> Any:
    connection = http.client.HTTPConnection(*address, timeout=10)
    try:
        payload = None if body is None else json.dumps(body)
        if payload is not None:
            headers["Content-Type"] = "application/json"
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def test_register_login_and_me_across_workers(
    tmp_path: Path, server_name: str, database_url: str
) -> None:
    env = {
        "AUTH_DATABASE_URL": database_url,
        "AUTH_LIMITS_DATABASE": str(tmp_path / "limits.db"),
        "MICROAPI_SECRET_KEY": "gunicorn test key",
    }
    app = "examples.auth.wsgi:api"
    with serving(app, tmp_path, server_name, workers=3, env=env) as address:
        user = {"email": "ada@example.com", "name": "Ada", "password": "correct horse"}
        assert call(address, "POST", "/api/register", user)[0] == 201
        credentials = {"email": user["email"], "password": user["password"]}
        # Separate connections land on any worker: every one finds the user
        # and verifies with the shared key.
        logins = [call(address, "POST", "/api/login", credentials) for _ in range(6)]
        assert [status for status, _ in logins] == [200] * 6
        assert call(address, "POST", "/api/register", user)[0] == 409
        bearer = f"Bearer {logins[0][1]['token']}"
        for _ in range(6):
            assert call(address, "GET", "/api/me", Authorization=bearer) == (
                200,
                {"user": {"id": 1, "email": "ada@example.com", "name": "Ada"}},
            )
