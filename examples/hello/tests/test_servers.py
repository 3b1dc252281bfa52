"""The hello example under real servers (gunicorn and granian) on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest

from tests.helpers import SERVERS, serving


@pytest.fixture(scope="module", params=SERVERS)
def server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[str, int]]:
    """Start each server in turn on a free port and stop it afterwards."""
    with serving(
        "examples.hello.wsgi:api", tmp_path_factory.mktemp("server"), request.param
    ) as served:
        yield served.address


def test_hello_over_http(server: tuple[str, int]) -> None:
    connection = http.client.HTTPConnection(*server, timeout=10)
    connection.request("GET", "/api/hello")
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type") == "application/json"
    assert json.loads(response.read()) == {"message": "Hello API!"}
    connection.close()


def test_keep_alive_serves_several_requests_on_one_connection(server: tuple[str, int]) -> None:
    connection = http.client.HTTPConnection(*server, timeout=10)
    sockets = set()
    for path, status in [("/api/hello", 200), ("/api/missing", 404), ("/api/hello/", 308)] * 2:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        assert response.status == status
        assert not response.will_close
        sockets.add(id(connection.sock))
    assert len(sockets) == 1
    connection.close()


def test_chunked_upload(server: tuple[str, int]) -> None:
    connection = http.client.HTTPConnection(*server, timeout=10)
    chunks = [b'{"items": [', b"1, 2, 3", b"]}"]
    connection.request(
        "POST",
        "/api/echo",
        body=iter(chunks),
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        encode_chunked=True,
    )
    response = connection.getresponse()
    assert response.status == 200
    assert json.loads(response.read()) == {"bytes": 20, "body": {"items": [1, 2, 3]}}
    connection.close()


def test_chunked_upload_over_the_limit_is_413(server: tuple[str, int]) -> None:
    connection = http.client.HTTPConnection(*server, timeout=10)
    chunk = b"x" * 65536
    connection.request(
        "POST",
        "/api/echo",
        body=iter([chunk] * 17),  # 1 MiB + 64 KiB
        headers={"Content-Type": "application/octet-stream", "Transfer-Encoding": "chunked"},
        encode_chunked=True,
    )
    response = connection.getresponse()
    assert response.status == 413
    assert response.getheader("Content-Type") == "application/problem+json"
    response.read()
    connection.close()


def test_bad_json_over_http_is_400(server: tuple[str, int]) -> None:
    connection = http.client.HTTPConnection(*server, timeout=10)
    connection.request(
        "POST", "/api/echo", body=b"{nope", headers={"Content-Type": "application/json"}
    )
    response = connection.getresponse()
    assert response.status == 400
    assert json.loads(response.read())["status"] == 400
    connection.close()
