"""The topology of :mod:`.topology`, started once for the module's tests."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from tests.helpers import RedisServer, redis_server

from .topology import NGINX, Host, Nginx, call, free_port, hosts_of

#: The servers the topology runs on, one after the other (``--server`` of
#: ``microapi serve``).
SERVERS = ["gunicorn", "granian"]
#: The addresses of the app hosts.
HOST_ADDRESSES = ["127.0.0.2", "127.0.0.3"]
#: The settings every host gets (deploy/app.py reads them).
HOST_ENV = (
    "DATABASE_URL",
    "REDIS_URL",
    "MICROAPI_SECRET_KEYS",
    "MICROAPI_SIGNING_KEY",
)
#: The first signing key (the rotation test replaces it).
FIRST_KEY = "multihost-key-one-a-long-random-string-in-production"


@dataclass
class Topology:
    """Everything the tests talk to or kill."""

    hosts: list[Host]
    nginx: Nginx
    redis: RedisServer
    database_url: str

    @property
    def address(self) -> tuple[str, int]:
        """nginx's address: where clients connect."""
        return self.nginx.address

    def ensure_up(self) -> None:
        """Restart whatever an earlier test left stopped."""
        if self.redis.process is None:
            self.redis.start()
        for host in self.hosts:
            if host.process is None:
                host.start()
        # nginx leaves a host that failed out for its fail_timeout (10 s):
        # wait (bounded) until it sends requests to every host again.
        probe = f"probe-{uuid.uuid4().hex[:8]}"
        names = {host.name for host in self.hosts}
        deadline = time.monotonic() + 20
        while not names <= set(hosts_of(self.nginx.served(probe), self.hosts)):
            assert time.monotonic() < deadline, f"nginx does not use every host: {self.nginx}"
            call(self.address, "GET", f"/openapi.json?t={probe}")
            time.sleep(0.1)

    def todo_rows(self) -> dict[int, tuple[str, bool]]:
        """Every todo in PostgreSQL."""
        with psycopg.connect(self.database_url) as connection:
            cursor = connection.execute("SELECT id, title, done FROM todos")
            return {i: (t, d) for i, t, d in cursor}

    def user_rows(self, email: str) -> list[tuple[int, str]]:
        """The users in PostgreSQL whose email is *email*, in any case."""
        with psycopg.connect(self.database_url) as connection:
            cursor = connection.execute(
                "SELECT id, email FROM users WHERE lower(email) = lower(%s)", (email,)
            )
            return list(cursor)


@pytest.fixture(scope="module", params=SERVERS)
def topology(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Topology]:
    """PostgreSQL, Redis, two app hosts and nginx; all stopped after the module."""
    server: Any = request.getfixturevalue("postgres")
    assert os.path.exists(NGINX), f"no nginx at {NGINX}: run `make nginx-deps` (Debian's nginx)"
    directory = tmp_path_factory.mktemp(f"multihost-{request.param}")
    with psycopg.connect(server.get_uri(), autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS multihost_{request.param} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE multihost_{request.param}")
    database_url = server.get_uri(f"multihost_{request.param}")
    with redis_server(directory) as redis:
        env = {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.url,
            "MICROAPI_SECRET_KEYS": FIRST_KEY,
            "MICROAPI_SIGNING_KEY": "",
        }
        assert set(env) == set(HOST_ENV)
        hosts = [
            Host(f"host{n}", (address, free_port(address)), directory, request.param, dict(env))
            for n, address in enumerate(HOST_ADDRESSES, 1)
        ]
        nginx = Nginx(directory, hosts)
        try:
            for host in hosts:
                host.start()
            nginx.start()
            yield Topology(hosts, nginx, redis, database_url)
        finally:
            nginx.stop()
            for host in hosts:
                host.stop()


@pytest.fixture
def up(topology: Topology) -> Topology:
    """The topology with every part running."""
    topology.ensure_up()
    return topology


def register(topology: Topology, email: str, source: str) -> None:
    """Register a user (password ``"correct horse"``) through nginx."""
    response = call(
        topology.address,
        "POST",
        "/auth/api/register",
        source=source,
        body={"email": email, "name": email.split("@")[0], "password": "correct horse"},
    )
    assert response.status in (201, 409), response
