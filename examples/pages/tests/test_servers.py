"""The pages example served from its own directory, as a user who copied it would."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import microapi
from tests.helpers import serving

#: The example's directory: run from here, ``examples`` is no package in sight.
HERE = Path(__file__).resolve().parents[1]


@pytest.fixture
def only_microapi(tmp_path: Path) -> dict[str, str]:
    """An environment whose PYTHONPATH holds microapi and nothing of the repository."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "microapi").symlink_to(Path(microapi.__file__).parent)
    return {"PYTHONPATH": str(site), "PAGES_DATABASE": str(tmp_path / "pages.sqlite3")}


def get(address: tuple[str, int], path: str, token: str | None = None) -> tuple[int, object]:
    connection = http.client.HTTPConnection(*address, timeout=10)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_served_from_its_own_directory(tmp_path: Path, only_microapi: dict[str, str]) -> None:
    # `python wsgi.py` prints a token for the demo user (api/_lib/auth.py's).
    env = {**os.environ, **only_microapi, "MICROAPI_SECRET_KEY": "k" * 32}
    printed = subprocess.run(
        [sys.executable, "wsgi.py"], cwd=HERE, env=env, capture_output=True, text=True, timeout=60
    )
    assert printed.returncode == 0, printed.stderr
    token = printed.stdout.strip()
    with serving(
        "wsgi:api",
        tmp_path,
        workers=1,
        cwd=HERE,
        env={**only_microapi, "MICROAPI_SECRET_KEY": "k" * 32},
    ) as served:
        assert get(served.address, "/api/hello") == (200, {"message": "Hello API!"})
        assert get(served.address, "/api/todos")[0] == 200  # api/_lib/db.py
        assert get(served.address, "/api/private/user")[0] == 401  # api/_lib/auth.py
        assert get(served.address, "/api/private/user", token) == (
            200,
            {"user": {"id": 1, "name": "Ada"}},
        )
