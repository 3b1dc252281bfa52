"""microapi.middleware.rate_limit: behaviour in process, exactness and faults under real servers."""

from __future__ import annotations

import hashlib
import http.client
import logging
import re
import sqlite3
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from marshmallow import Schema, fields
from werkzeug.datastructures import Headers
from werkzeug.test import EnvironBuilder

from microapi import Api, HTTPError, Request, Res
from microapi.middleware import (
    MemoryStore,
    RedisStore,
    SQLiteStore,
    Store,
    client_ip,
    client_ip_key,
    rate_limit,
    user_key,
)
from microapi.middleware.ratelimit import parse_limit
from microapi.testing import TestClient
from microapi.types import Next
from tests.helpers import assert_problem, free_port, redis_server, serving


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def limited(limiter: Any, match: str | None = None) -> tuple[Api, list[int]]:
    """An app with GET /api/hello behind *limiter*; the list counts handler calls."""
    api = Api()
    calls: list[int] = []
    api.middleware(limiter, match=match)

    @api.route("/api/hello")
    def hello(req: Request, res: Res) -> dict[str, Any]:
        calls.append(1)
        return {"message": "Hello API!"}

    @api.route("/other")
    def other(req: Request, res: Res) -> dict[str, Any]:
        return {}

    return api, calls


def rate_headers(response: Any) -> tuple[str | None, str | None, str | None]:
    get = response.headers.get
    return get("RateLimit-Limit"), get("RateLimit-Remaining"), get("RateLimit-Reset")


def request_for(**environ: Any) -> Request:
    return Request(EnvironBuilder(environ_base=environ).get_environ())


# -- limits and arguments ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("100/minute", (100, 60)),
        ("1/second", (1, 1)),
        ("5/hour", (5, 3600)),
        ("7/day", (7, 86400)),
        ("10/15 minutes", (10, 900)),
        (" 3 / 2 Seconds ", (3, 2)),
        ("2/1 day", (2, 86400)),
        ("4/minutes", (4, 60)),
    ],
)
def test_limit_forms(text: str, parsed: tuple[int, int]) -> None:
    assert parse_limit(text) == parsed


@pytest.mark.parametrize(
    "text",
    [
        "",
        "100",
        "100/",
        "/minute",
        "100/fortnight",
        "-1/minute",
        "1.5/minute",
        "100/minute/extra",
        "\uff11\uff10/minute",  # full-width digits
        "100 per minute",
        "100/m",
        "9" * 5000 + "/minute",
        "1/" + "9" * 5000 + " seconds",
    ],
)
def test_malformed_limits_name_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"N/minute"):
        rate_limit(text)


@pytest.mark.parametrize("text", ["0/minute", "1/0 seconds"])
def test_empty_limits_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        rate_limit(text)


def test_argument_types_are_checked() -> None:
    with pytest.raises(TypeError, match="string"):
        rate_limit(100)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Store"):
        rate_limit("1/second", store="redis://localhost")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable"):
        rate_limit("1/second", key="ip")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="scope"):
        rate_limit("1/second", scope=1)  # type: ignore[arg-type]


# -- headers and the 429 ---------------------------------------------------------------


class Thing(Schema):
    name = fields.String(required=True)


def test_headers_on_every_response_of_a_limited_path() -> None:
    api = Api()
    api.middleware(rate_limit("10/minute"), match="/api/:path*")

    @api.route("/api/hello")
    def hello(req: Request, res: Res) -> dict[str, Any]:
        return {}

    @api.route("/api/things", methods=["POST"], body=Thing)
    def create(req: Request, res: Res) -> dict[str, Any]:
        return {}

    @api.route("/api/boom")
    def boom(req: Request, res: Res) -> None:
        raise RuntimeError("bug")

    client = TestClient(api)
    responses = [
        (client.get("/api/hello"), 200),
        (client.get("/api/missing"), 404),
        (client.post("/api/hello"), 405),
        (client.post("/api/things", json={"name": 5}), 422),
        (client.get("/api/boom"), 500),
    ]
    for index, (response, status) in enumerate(responses):
        assert response.status_code == status
        assert rate_headers(response) == ("10", str(9 - index), "60")
    assert responses[2][0].headers["Allow"] == "GET, HEAD, OPTIONS"
    assert "Retry-After" not in responses[4][0].headers


def test_over_the_limit_is_a_429_problem_and_the_handler_never_runs() -> None:
    api, calls = limited(rate_limit("2/minute"))
    client = TestClient(api)
    assert rate_headers(client.get("/api/hello")) == ("2", "1", "60")
    assert rate_headers(client.get("/api/hello")) == ("2", "0", "60")
    for _ in range(3):
        response = client.get("/api/hello")
        problem = assert_problem(response, 429)
        assert problem["title"] == "Too Many Requests"
        assert problem["detail"] == "too many requests: the limit is 2/minute; retry in 60 seconds"
        assert rate_headers(response) == ("2", "0", "60")
        assert response.headers["Retry-After"] == "60"
    assert len(calls) == 2


def test_window_resets_and_reset_counts_down() -> None:
    clock = Clock()
    api, calls = limited(rate_limit("2/minute", store=MemoryStore(clock=clock)))
    client = TestClient(api)
    client.get("/api/hello")
    clock.now += 0.5
    assert rate_headers(client.get("/api/hello")) == ("2", "0", "60")  # 59.5 rounds up
    clock.now += 29.5
    response = client.get("/api/hello")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == response.headers["RateLimit-Reset"] == "30"
    clock.now += 30  # the window is over
    assert rate_headers(client.get("/api/hello")) == ("2", "1", "60")
    assert len(calls) == 3


def test_large_limits_count_down_too() -> None:
    api, _ = limited(rate_limit("5000/hour"))
    client = TestClient(api)
    assert rate_headers(client.get("/api/hello")) == ("5000", "4999", "3600")
    assert rate_headers(client.get("/api/hello")) == ("5000", "4998", "3600")


class EndingWindows(Store):
    """A custom store whose every window is about to end."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def hit(self, key: str, period: float) -> tuple[int, float]:
        self.keys.append(key)
        return len(self.keys), 0.0


def test_a_custom_store_counts_and_a_zero_reset_reads_one_second() -> None:
    store = EndingWindows()
    api, _ = limited(rate_limit("1/minute", store=store, scope="mine"))
    client = TestClient(api)
    address = {"REMOTE_ADDR": "10.1.2.3"}
    assert rate_headers(client.get("/api/hello", environ_base=address)) == ("1", "0", "1")
    response = client.get("/api/hello", environ_base=address)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert store.keys == ["mine:10.1.2.3"] * 2


def test_match_limits_only_matching_paths() -> None:
    api, _ = limited(rate_limit("1/minute"), match="/api/:path*")
    client = TestClient(api)
    for _ in range(5):
        response = client.get("/other")
        assert response.status_code == 200
        assert rate_headers(response) == (None, None, None)
    assert client.get("/api/hello").status_code == 200
    assert client.get("/api/hello").status_code == 429


def test_limits_with_the_same_settings_share_counters_unless_scoped() -> None:
    store = MemoryStore()
    api = Api()
    api.middleware(rate_limit("2/minute", store=store), match="/a")
    api.middleware(rate_limit("2/minute", store=store), match="/b")
    api.middleware(rate_limit("2/minute", store=store, scope="c"), match="/c")
    api.middleware(rate_limit("3/minute", store=store), match="/d")
    for path in "/a", "/b", "/c", "/d":
        api.add_route(path, lambda req, res: {}, name=path[1:])
    client = TestClient(api)
    assert [client.get(path).status_code for path in ["/a", "/b", "/a"]] == [200, 200, 429]
    assert [client.get("/c").status_code for _ in range(3)] == [200, 200, 429]
    assert [client.get("/d").status_code for _ in range(4)] == [200, 200, 200, 429]


def api_key(req: Request) -> str:
    return req.headers.get("X-Api-Key", "")


def test_a_custom_key_cannot_spend_another_limits_counters() -> None:
    # A client naming an IP as its API key does not use up that IP's budget.
    store = MemoryStore()
    api = Api()
    api.middleware(rate_limit("2/minute", store=store), match="/by-ip")
    api.middleware(rate_limit("2/minute", key=api_key, store=store), match="/by-key")
    api.add_route("/by-ip", lambda req, res: {}, name="by_ip")
    api.add_route("/by-key", lambda req, res: {}, name="by_key")
    client = TestClient(api)
    address = {"REMOTE_ADDR": "203.0.113.7"}
    spoof = {"X-Api-Key": "203.0.113.7"}
    by_key = [client.get("/by-key", headers=spoof, environ_base=address) for _ in range(3)]
    assert [response.status_code for response in by_key] == [200, 200, 429]
    by_ip = [client.get("/by-ip", environ_base=address) for _ in range(3)]
    assert [response.status_code for response in by_ip] == [200, 200, 429]


def test_the_most_restrictive_of_several_limits_sets_the_headers() -> None:
    api = Api()
    api.middleware(rate_limit("100/minute"))
    api.middleware(rate_limit("2/hour"), match="/strict")
    api.middleware(rate_limit("1000/day"), match="/lax")
    api.add_route("/strict", lambda req, res: {}, name="strict")
    api.add_route("/lax", lambda req, res: {}, name="lax")
    client = TestClient(api)
    assert rate_headers(client.get("/strict")) == ("2", "1", "3600")
    assert rate_headers(client.get("/lax")) == ("100", "98", "60")
    assert rate_headers(client.get("/strict")) == ("2", "0", "3600")
    response = client.get("/strict")
    assert response.status_code == 429
    assert rate_headers(response) == ("2", "0", "3600")
    assert response.headers["Retry-After"] == "3600"
    assert response.headers.getlist("RateLimit-Limit") == ["2"]


def test_memory_store_is_exact_under_concurrent_clients() -> None:
    api, calls = limited(rate_limit("100/hour"))
    statuses: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(32, timeout=10)

    def work() -> None:
        client = TestClient(api)
        barrier.wait()
        seen = [client.get("/api/hello").status_code for _ in range(10)]
        with lock:
            statuses.extend(seen)

    threads = [threading.Thread(target=work) for _ in range(32)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads switch as often as they can
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        sys.setswitchinterval(interval)
    assert Counter(statuses) == {200: 100, 429: 220}
    assert len(calls) == 100


# -- keys ------------------------------------------------------------------------------


def test_client_ip_keys_by_remote_addr_and_ignores_forwarded_for() -> None:
    api, _ = limited(rate_limit("2/minute"))
    client = TestClient(api)
    first = {"REMOTE_ADDR": "10.0.0.1"}
    spoofed = [f"203.0.113.{n}" for n in range(4)]
    statuses = [
        client.get("/api/hello", environ_base=first, headers={"X-Forwarded-For": ip}).status_code
        for ip in spoofed
    ]
    assert statuses == [200, 200, 429, 429]
    assert client.get("/api/hello", environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code == 200
    assert client_ip(request_for(REMOTE_ADDR="10.0.0.1")) == "10.0.0.1"


def test_an_ipv6_client_is_counted_by_its_64() -> None:
    api, _ = limited(rate_limit("2/minute"))
    client = TestClient(api)
    same_64 = ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:DB8:1:2:0:0:0:3"]
    statuses = [
        client.get("/api/hello", environ_base={"REMOTE_ADDR": ip}).status_code for ip in same_64
    ]
    assert statuses == [200, 200, 429]
    other_64 = {"REMOTE_ADDR": "2001:db8:1:3::1"}
    assert client.get("/api/hello", environ_base=other_64).status_code == 200
    assert client_ip(request_for(REMOTE_ADDR="2001:db8:1:2:3:4:5:6")) == "2001:db8:1:2::/64"
    # A dual-stack socket's IPv4 client is its IPv4 address; IPv4 is as it is.
    assert client_ip(request_for(REMOTE_ADDR="::ffff:10.0.0.1")) == "10.0.0.1"
    assert client_ip(request_for(REMOTE_ADDR="10.0.0.1")) == "10.0.0.1"


@pytest.mark.parametrize(
    ("prefix", "address", "key"),
    [
        (56, "2001:db8:1:2ff::1", "2001:db8:1:200::/56"),
        (128, "2001:db8:1:2::1", "2001:db8:1:2::1"),
        (48, "10.0.0.1", "10.0.0.1"),
    ],
)
def test_client_ip_key_counts_another_ipv6_prefix(prefix: int, address: str, key: str) -> None:
    assert client_ip_key(ipv6_prefix=prefix)(request_for(REMOTE_ADDR=address)) == key
    api, _ = limited(rate_limit("1/minute", key=client_ip_key(ipv6_prefix=128)))
    client = TestClient(api)
    assert client.get("/api/hello", environ_base={"REMOTE_ADDR": "2001:db8::1"}).status_code == 200
    assert client.get("/api/hello", environ_base={"REMOTE_ADDR": "2001:db8::2"}).status_code == 200
    assert client.get("/api/hello", environ_base={"REMOTE_ADDR": "2001:db8::1"}).status_code == 429


@pytest.mark.parametrize("prefix", [0, 129, -1, True, 64.0, "64"])
def test_client_ip_key_refuses_a_bad_prefix(prefix: Any) -> None:
    with pytest.raises(ValueError, match="ipv6_prefix"):
        client_ip_key(ipv6_prefix=prefix)


def test_requests_without_an_address_share_one_counter() -> None:
    api, _ = limited(rate_limit("1/minute"))
    client = TestClient(api)
    assert client.get("/api/hello", environ_base={"REMOTE_ADDR": ""}).status_code == 200
    assert client.get("/api/hello", environ_base={"REMOTE_ADDR": ""}).status_code == 429
    assert client_ip(request_for(REMOTE_ADDR="")) == "unknown"


@dataclass
class User:
    id: Any
    name: str = "ada"


class Nameless:
    id = None

    def __str__(self) -> str:
        return "nameless"


@pytest.mark.parametrize(
    ("user", "key"),
    [
        (User(7), "user:7"),
        (User("1.2.3.4"), "user:1.2.3.4"),
        ({"id": 7}, "user:7"),
        ({"name": "ada"}, "user:{'name': 'ada'}"),
        ("alice", "user:alice"),
        (["a"], "user:['a']"),
        (Nameless(), "user:nameless"),
        (None, "ip:1.2.3.4"),
    ],
)
def test_user_key(user: Any, key: str) -> None:
    req = request_for(REMOTE_ADDR="1.2.3.4")
    req.user = user
    assert user_key(req) == key


def test_user_key_shares_a_user_counter_across_addresses() -> None:
    api = Api()

    @api.middleware
    def authenticate(req: Request, res: Res, next: Next) -> None:
        name = req.headers.get("X-User")
        req.user = None if name is None else {"id": name}
        next()

    api.middleware(rate_limit("2/minute", key=user_key))
    api.add_route("/", lambda req, res: {}, name="home")
    client = TestClient(api)

    def get(ip: str, user: str | None = None) -> int:
        headers = {} if user is None else {"X-User": user}
        return client.get("/", environ_base={"REMOTE_ADDR": ip}, headers=headers).status_code

    assert [get(ip, "7") for ip in ["10.0.0.1", "10.0.0.2", "10.0.0.3"]] == [200, 200, 429]
    # A user whose id looks like an address never shares the address's counter.
    assert [get("10.0.0.1", "10.0.0.9") for _ in range(3)] == [200, 200, 429]
    assert [get("10.0.0.9") for _ in range(3)] == [200, 200, 429]
    assert get("10.0.0.8") == 200


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture(params=["memory", "sqlite", "redis"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    store: Store
    if request.param == "memory":
        store = MemoryStore()
    elif request.param == "sqlite":
        store = SQLiteStore(tmp_path / "limits.db")
    else:
        store = RedisStore(request.getfixturevalue("redis_url"), prefix=f"{tmp_path.name}:")
    yield store
    store.close()


ODD_KEYS: list[Any] = [
    "x" * 1_000_000,
    "x" * 1_000_000 + "y",  # differs only past the length that is kept
    "\x00",
    "\r\nSET k 1\r\n",
    "é",
    "\udc80",  # a lone surrogate: cannot even be encoded
    "#abc",
    "",
    7,
    b"bytes",
    ("a", 1),
]


def test_odd_keys_never_fail_and_count_apart(any_store: Store) -> None:
    keys = iter(ODD_KEYS * 2)
    api, _ = limited(rate_limit("1/minute", key=lambda req: next(keys), store=any_store))
    client = TestClient(api)
    statuses = [client.get("/api/hello").status_code for _ in range(len(ODD_KEYS) * 2)]
    assert statuses == [200] * len(ODD_KEYS) + [429] * len(ODD_KEYS)


def test_a_hashed_key_never_collides_with_one_given_as_is() -> None:
    digest = hashlib.sha256(b"\n").hexdigest()
    keys = iter(["\n", "#" + digest, digest, "1/minute#" + digest])
    api, _ = limited(rate_limit("1/minute", key=lambda req: next(keys)))
    client = TestClient(api)
    assert [client.get("/api/hello").status_code for _ in range(4)] == [200] * 4


def test_huge_header_keys_are_stored_hashed(tmp_path: Path) -> None:
    path = tmp_path / "limits.db"
    limiter = rate_limit(
        "2/minute", key=lambda req: req.headers.get("X-Key"), store=SQLiteStore(path)
    )
    api, _ = limited(limiter)
    client = TestClient(api)
    huge = "k" * 60_000
    assert [client.get("/api/hello", headers={"X-Key": huge}).status_code for _ in range(3)] == [
        200,
        200,
        429,
    ]
    with sqlite3.connect(path) as db:
        [(stored,)] = db.execute("SELECT key FROM microapi_ratelimit").fetchall()
    db.close()
    scope, _, digest = stored.partition("#")
    assert scope.startswith("2/minute|")  # the scope names the key function
    assert re.fullmatch("[0-9a-f]{64}", digest)


def test_a_key_returning_none_falls_back_to_the_client_address() -> None:
    api, _ = limited(rate_limit("1/minute", key=lambda req: req.headers.get("X-Api-Key")))
    client = TestClient(api)
    anonymous = {"REMOTE_ADDR": "10.0.0.1"}
    assert client.get("/api/hello", environ_base=anonymous).status_code == 200
    assert client.get("/api/hello", environ_base=anonymous).status_code == 429
    assert client.get("/api/hello", environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code == 200
    keyed = {"X-Api-Key": "k1"}
    assert client.get("/api/hello", environ_base=anonymous, headers=keyed).status_code == 200


def test_a_key_may_refuse_the_request() -> None:
    def key(req: Request) -> str:
        raise HTTPError(401, "an API key is required")

    api, calls = limited(rate_limit("1/minute", key=key))
    assert_problem(TestClient(api).get("/api/hello"), 401)
    assert calls == []


# -- store failures -----------------------------------------------------------------------


def warnings_and_infos(caplog: pytest.LogCaptureFixture) -> tuple[list[str], list[str]]:
    records = [record for record in caplog.records if record.name == "microapi.ratelimit"]
    return (
        [r.getMessage() for r in records if r.levelno == logging.WARNING],
        [r.getMessage() for r in records if r.levelno == logging.INFO],
    )


def test_fail_open_admits_without_headers_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="microapi.ratelimit")
    store = RedisStore(f"redis://:hunter2@127.0.0.1:{free_port()}/0", timeout=0.5)
    api, calls = limited(rate_limit("1/minute", store=store))
    client = TestClient(api)
    for _ in range(5):
        response = client.get("/api/hello")
        assert response.status_code == 200
        assert rate_headers(response) == (None, None, None)
    assert len(calls) == 5
    warnings, infos = warnings_and_infos(caplog)
    assert len(warnings) == 1
    assert "rate limit '1/minute'" in warnings[0]
    assert "admitting requests unlimited" in warnings[0]
    assert "hunter2" not in caplog.text
    assert infos == []
    store.close()


def test_fail_closed_answers_503_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="microapi.ratelimit")
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    api, calls = limited(rate_limit("1/minute", store=store, fail_open=False))
    client = TestClient(api)
    for _ in range(3):
        response = client.get("/api/hello")
        problem = assert_problem(response, 503)
        assert problem["detail"] == "the rate limit cannot be checked right now; retry later"
        assert response.headers["Retry-After"] == "1"
        assert rate_headers(response) == (None, None, None)
    assert calls == []
    warnings, _ = warnings_and_infos(caplog)
    assert len(warnings) == 1
    assert "answering 503" in warnings[0]
    store.close()


@pytest.mark.parametrize("fail_open", [True, False])
def test_a_locked_database_is_one_outage_then_recovery(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, fail_open: bool
) -> None:
    caplog.set_level(logging.INFO, logger="microapi.ratelimit")
    path = tmp_path / "limits.db"
    limiter = rate_limit("3/minute", store=SQLiteStore(path, timeout=0.05), fail_open=fail_open)
    api, _ = limited(limiter)
    client = TestClient(api)
    outage_status = 200 if fail_open else 503

    def outage() -> None:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            assert [client.get("/api/hello").status_code for _ in range(3)] == [outage_status] * 3
        finally:
            blocker.execute("COMMIT")
            blocker.close()

    assert rate_headers(client.get("/api/hello")) == ("3", "2", "60")
    outage()
    assert rate_headers(client.get("/api/hello")) == ("3", "1", "60")
    assert client.get("/api/hello").status_code == 200
    assert len(warnings_and_infos(caplog)[1]) == 1
    outage()  # a second outage is reported again
    assert client.get("/api/hello").status_code == 429
    warnings, infos = warnings_and_infos(caplog)
    assert len(warnings) == 2
    assert "SQLiteStore(" in warnings[0]
    assert "locked" in warnings[0]
    assert len(infos) == 2
    assert "is available again" in infos[0]


# -- real servers ------------------------------------------------------------------------

APP = "tests.middleware.ratelimit_app:api"


@dataclass
class Reply:
    status: int
    worker: str | None
    headers: Mapping[str, str]


def get(address: tuple[str, int], path: str, client: str = "-") -> Reply:
    connection = http.client.HTTPConnection(*address, timeout=30)
    try:
        connection.request("GET", path, headers={"X-Client": client, "Connection": "close"})
        response = connection.getresponse()
        response.read()
        # NOTE: Headers ignores case: granian sends names in lower case.
        headers = Headers(response.getheaders())
        return Reply(response.status, response.getheader("X-Worker"), headers)
    finally:
        connection.close()


def burst(
    address: tuple[str, int], path: str, client: str = "-", threads: int = 32, each: int = 10
) -> list[Reply]:
    """*threads* clients at once, *each* requests each; every reply (status -1: failed)."""
    replies: list[Reply] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads, timeout=20)

    def work() -> None:
        barrier.wait()
        for _ in range(each):
            try:
                reply = get(address, path, client)
            except OSError as exc:
                reply = Reply(-1, None, {"error": repr(exc)})
            with lock:
                replies.append(reply)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    return replies


def assert_exact(replies: list[Reply], limit: int) -> None:
    statuses = Counter(reply.status for reply in replies)
    failures = [reply.headers for reply in replies if reply.status == -1][:3]
    assert statuses == {200: limit, 429: len(replies) - limit}, (statuses, failures)
    remaining = sorted(int(r.headers["RateLimit-Remaining"]) for r in replies if r.status == 200)
    assert remaining == list(range(limit))  # every count was seen exactly once


#: Server options that spread 32 concurrent clients over the workers instead
#: of all landing on the quickest one.
SPREAD = {
    # NOTE: a gthread worker accepts connections until it holds
    # --worker-connections of them.
    "gunicorn": ("--worker-connections", "4"),
    # NOTE: granian's workers take requests while they have fewer than
    # --backpressure in progress.
    "granian": ("--backpressure", "4"),
}


def serve(tmp_path: Path, env: dict[str, str], server: str) -> Any:
    env = {"RL_LIMIT": "100/hour", "RL_SCOPE": tmp_path.name, **env}
    return serving(APP, tmp_path, server, *SPREAD[server], workers=4, threads=4, env=env)


def test_sqlite_store_is_exact_across_server_workers(tmp_path: Path, server_name: str) -> None:
    (tmp_path / "db").mkdir()  # SQLiteStore creates the file, never its directory
    log = tmp_path / "ratelimit.log"
    env = {"RL_STORE": "sqlite", "RL_SQLITE_PATH": str(tmp_path / "db" / "limits.db")}
    # NOTE: 16 threads on a busy 2-CPU machine may wait more than the default
    # 1 s for SQLite's lock (its busy wait is not fair); /limited fails open,
    # so such a wait would admit one request uncounted.  Exactness is about
    # the counting: give the lock time, and check that the store never failed.
    env |= {"RL_SQLITE_TIMEOUT": "10", "RL_LOG": str(log)}
    # RL_WARM: the master opens a connection before forking (microapi serve
    # imports the app there).
    with serve(tmp_path, {**env, "RL_WARM": "1"}, server_name) as address:
        replies = burst(address, "/limited")
    assert logged(log, "WARNING", f"{tmp_path.name}:limited") == Counter()
    assert_exact(replies, 100)
    assert len({reply.worker for reply in replies}) >= 2


def test_redis_store_is_exact_across_server_workers(tmp_path: Path, server_name: str) -> None:
    with (
        redis_server(tmp_path) as redis,
        serve(tmp_path, {"RL_STORE": "redis", "RL_REDIS_URL": redis.url}, server_name) as address,
    ):
        replies = burst(address, "/limited")
    assert_exact(replies, 100)
    assert len({reply.worker for reply in replies}) >= 2


def logged(path: Path, level: str, scope: str) -> Counter[str]:
    """Records of *level* about *scope*, counted per worker pid."""
    lines = path.read_text().splitlines() if path.exists() else []
    return Counter(
        line.split()[0] for line in lines if line.split()[1] == level and f"{scope}'" in line
    )


def test_redis_outage_under_a_server_fails_open_or_closed_then_recovers(
    tmp_path: Path, server_name: str
) -> None:
    log = tmp_path / "ratelimit.log"
    scope = tmp_path.name
    with redis_server(tmp_path) as redis:
        env = {"RL_STORE": "redis", "RL_REDIS_URL": redis.url, "RL_LIMIT": "10/hour"}
        with serve(tmp_path, {**env, "RL_LOG": str(log)}, server_name) as address:
            # Up: limiting.
            assert [get(address, "/open", "a").status for _ in range(12)] == [200] * 10 + [429] * 2

            redis.kill()
            opened = burst(address, "/open", "b", threads=8, each=8)
            closed = burst(address, "/closed", "b", threads=8, each=8)
            assert {reply.status for reply in opened} == {200}  # 64 > the limit: unlimited
            assert all("RateLimit-Limit" not in reply.headers for reply in opened)
            assert {reply.status for reply in closed} == {503}
            assert {reply.headers["Retry-After"] for reply in closed} == {"1"}
            assert {reply.headers["Content-Type"] for reply in closed} == {
                "application/problem+json"
            }

            redis.start()  # same port, no server restart
            # Each worker's circuit breaker tries Redis again once its back-off
            # (RedisStore's default, 1 s) has passed: let it pass in all of them.
            time.sleep(1.2)
            deadline = time.monotonic() + 10
            probe = get(address, "/open", "probe")
            while "RateLimit-Limit" not in probe.headers and time.monotonic() < deadline:
                probe = get(address, "/open", "probe")
            assert "RateLimit-Limit" in probe.headers
            after_open = burst(address, "/open", "c", threads=8, each=4)
            after_closed = burst(address, "/closed", "c", threads=8, each=4)
            assert_exact(after_open, 10)
            assert_exact(after_closed, 10)

    # One WARNING per worker per outage, from each worker that met it.
    for replies, which in [(opened, "open"), (closed, "closed")]:
        warned = logged(log, "WARNING", f"{scope}:{which}")
        assert set(warned) == {reply.worker for reply in replies}
        assert set(warned.values()) == {1}
    # Recovery is logged once by the workers that had warned and counted again.
    warned = logged(log, "WARNING", f"{scope}:open")
    served_after = {reply.worker for reply in [probe, *after_open]}
    recovered = logged(log, "INFO", f"{scope}:open")
    assert set(recovered.values()) == {1}
    assert set(recovered) == set(warned) & served_after
