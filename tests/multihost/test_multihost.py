"""Two app hosts behind nginx, sharing Redis and PostgreSQL, end to end.

``make multihost`` runs these (``pytest -m multihost -s``); each test
prints its figures, the ones ``docs/many-hosts.md`` quotes.
Every request goes through nginx unless a test says otherwise, from a
loopback address of the test's own (127.0.0.10, ...), so that nginx and
``proxy_fix`` see each client as itself.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from examples.auth.wsgi import LOGIN_LIMIT
from examples.todos.tests.load import Load, verify
from microapi.middleware.ratelimit import parse_limit

from .conftest import FIRST_KEY, Topology, register
from .topology import Response, call, hosts_of, wait_until

pytestmark = pytest.mark.multihost

#: Login attempts admitted per client per window (the auth example's limit).
LIMIT = parse_limit(LOGIN_LIMIT)[0]
PASSWORD = "correct horse"


def attempts(topology: Topology, source: str, count: int, tag: str, **headers: str) -> Counter[int]:
    """*count* login attempts from *source* (no password: a cheap 422 once admitted)."""
    statuses: Counter[int] = Counter()
    for n in range(count):
        response = call(
            topology.address,
            "POST",
            f"/auth/api/login?t={tag}-{n}",
            source=source,
            body={},
            headers=headers,
        )
        statuses[response.status] += 1
    return statuses


def admitted(statuses: Counter[int]) -> int:
    """Attempts the limiter let through (answered by the route: 422)."""
    assert set(statuses) <= {422, 429}, statuses
    return statuses[422]


def test_rate_limits_are_exact_across_hosts_and_spoofing_gains_nothing(up: Topology) -> None:
    tag = uuid.uuid4().hex[:8]
    clients = [f"127.0.0.{n}" for n in range(10, 14)]
    sent = LIMIT + 5

    def honest(source: str) -> Counter[int]:
        return attempts(up, source, sent, f"{tag}-{source}")

    def spoofer(source: str) -> Counter[int]:
        # A new X-Forwarded-For on every attempt: nginx appends the real
        # address, and proxy_fix(x_for=1) takes the last value.
        statuses: Counter[int] = Counter()
        for n in range(sent):
            statuses += attempts(
                up, source, 1, f"{tag}-{source}-{n}", **{"X-Forwarded-For": f"10.9.8.{n}"}
            )
        return statuses

    with ThreadPoolExecutor(len(clients) + 1) as pool:
        results = dict(zip(clients, pool.map(honest, clients), strict=True))
        results["127.0.0.14 (spoofing X-Forwarded-For)"] = pool.submit(
            spoofer, "127.0.0.14"
        ).result()
    print(f"\nrate limit {LOGIN_LIMIT}, {sent} attempts per client, concurrently, via nginx:")
    for client, statuses in results.items():
        served = hosts_of(up.nginx.served(f"{tag}-{client.split()[0]}", sent), up.hosts)
        print(f"  {client}: admitted {admitted(statuses)}, refused {statuses[429]}; by {served}")
    assert all(admitted(statuses) == LIMIT for statuses in results.values()), results
    for client in clients:  # each client's attempts were spread over both hosts
        served = up.nginx.served(f"{tag}-{client}", sent)
        assert len(served) == len(up.hosts), served


def session_login(address: tuple[str, int], email: str, source: str, tag: str) -> dict[str, str]:
    """Log in a browser session at *address* (nginx or a host); its cookie and CSRF token."""
    response = call(
        address,
        "POST",
        f"/auth/api/session/login?t={tag}",
        source=source,
        body={"email": email, "password": PASSWORD},
    )
    assert response.status == 200, response
    cookies = response.headers["set-cookie"]
    session = cookies.split("session=", 1)[1].split(";", 1)[0]
    return {"session": session, "csrf": response.body["csrf_token"]}


def token_login(address: tuple[str, int], email: str, source: str, tag: str) -> str:
    """Log in an API client at *address* (nginx or a host); its bearer token."""
    response = call(
        address,
        "POST",
        f"/auth/api/login?t={tag}",
        source=source,
        body={"email": email, "password": PASSWORD},
    )
    assert response.status == 200, response
    token: str = response.body["token"]
    return token


def session_checks(
    address: tuple[str, int], session: dict[str, str], source: str, tag: str
) -> tuple[Response, Response]:
    """Read the session, then rename its user (an unsafe request: CSRF checked)."""
    cookie = {"Cookie": f"session={session['session']}"}
    read = call(address, "GET", f"/auth/api/session?t={tag}", source=source, headers=cookie)
    rename = call(
        address,
        "PATCH",
        f"/auth/api/session/me?t={tag}",
        source=source,
        body={"name": f"renamed {tag}"},
        headers={**cookie, "X-CSRF-Token": session["csrf"]},
    )
    return read, rename


def bearer_check(address: tuple[str, int], token: str, source: str, tag: str) -> Response:
    """``GET /auth/api/me`` with the token."""
    headers = {"Authorization": f"Bearer {token}"}
    return call(address, "GET", f"/auth/api/me?t={tag}", source=source, headers=headers)


def test_sessions_csrf_and_bearer_tokens_verify_on_every_host(up: Topology) -> None:
    tag = uuid.uuid4().hex[:8]
    source = "127.0.0.15"
    register(up, f"cross-{tag}@example.com", source)
    session = session_login(up.address, f"cross-{tag}@example.com", source, f"{tag}-issue")
    token = token_login(up.address, f"cross-{tag}@example.com", source, f"{tag}-issue")
    issued_by = hosts_of(up.nginx.served(f"{tag}-issue", 2), up.hosts)
    results: Counter[str] = Counter()
    for _ in range(4):  # nginx's round robin: each host twice
        read, rename = session_checks(up.address, session, source, f"{tag}-check")
        me = bearer_check(up.address, token, source, f"{tag}-check")
        results["session"] += read.status == 200 and read.body["user"] is not None
        results["csrf"] += rename.status == 200
        results["bearer"] += me.status == 200
    checked_by = hosts_of(up.nginx.served(f"{tag}-check", 12), up.hosts)
    print(f"\ncross-host: issued by {issued_by}; verified {dict(results)} of 4, by {checked_by}")
    assert results == {"session": 4, "csrf": 4, "bearer": 4}
    assert set(checked_by) == {host.name for host in up.hosts}
    # A forged CSRF token is refused on every host all the same.
    forged = {**session, "csrf": session["csrf"][:-2] + "xx"}
    for host in up.hosts:
        assert session_checks(host.address, forged, source, f"{tag}-forged")[1].status == 403


def test_a_user_registered_through_one_host_logs_in_through_the_other(up: Topology) -> None:
    # Straight to each host, not through nginx: which host does what is the point.
    tag = uuid.uuid4().hex[:8]
    first, second = up.hosts
    source = "127.0.0.17"
    email = f"Hosts-{tag}@Example.COM"
    user = {"email": email, "name": "Ada", "password": PASSWORD}
    registered = call(first.address, "POST", "/auth/api/register", source=source, body=user)
    assert registered.status == 201, registered
    rows = up.user_rows(email)
    assert rows == [(registered.body["id"], email.lower())]  # in PostgreSQL, normalized
    token = token_login(second.address, email.upper(), source, tag)
    session = session_login(second.address, email, source, tag)
    verified: Counter[str] = Counter()
    for host in (first, second):
        me = bearer_check(host.address, token, source, tag)
        read, _ = session_checks(host.address, session, source, tag)
        verified[f"bearer on {host.name}"] += (
            me.status == 200 and me.body["user"]["email"] == rows[0][1]
        )
        user_there = read.body["user"] if read.status == 200 else None
        verified[f"session on {host.name}"] += (user_there or {}).get("id") == rows[0][0]
    again = call(second.address, "POST", "/auth/api/register", source=source, body=user)
    print(
        f"\ncross-host users: registered through {first.name} (rows in PostgreSQL: {len(rows)});"
        f" logged in through {second.name} (bearer and session);"
        f" verified {dict(verified)}; registering again through {second.name}: {again.status}"
    )
    assert set(verified.values()) == {1}
    assert len(verified) == 2 * len(up.hosts)
    assert again.status == 409


def test_rolling_key_rotation_logs_nobody_out(up: Topology) -> None:
    tag = uuid.uuid4().hex[:8]
    email = f"rotation-{tag}@example.com"
    register(up, email, "127.0.0.16")
    old, new = FIRST_KEY, f"multihost-key-two-{tag}"
    # (description, MICROAPI_SECRET_KEYS, MICROAPI_SIGNING_KEY); the hosts
    # start with the first.
    stages = [
        ("learn the new key, still sign with the old", f"{old} {new}", old),
        ("sign with the new key", f"{old} {new}", ""),
        ("drop the old key", new, ""),
    ]
    minted: list[tuple[str, str, Any]] = []  # (signed with, label, session or token)
    mints: dict[str, set[str]] = {"session": set(), "token": set()}  # kind: minting hosts
    step = 0

    def mint_and_check(label: str, signs: dict[str, str]) -> None:
        nonlocal step
        step += 1
        source = f"127.0.0.{30 + step}"  # a fresh address: the login limit is per client
        # nginx alternates the hosts: session, token, then token, session
        # mints one of each on every host.
        for order in (("session", "token"), ("token", "session")):
            for kind in order:
                mint_tag = f"{tag}-mint-{len(minted)}"
                login = session_login if kind == "session" else token_login
                credential = login(up.address, email, source, mint_tag)
                (host,) = hosts_of(up.nginx.served(mint_tag, 1), up.hosts)
                minted.append((signs[host], f"{kind} by {host} at step {step}", credential))
                mints[kind].add(host)
        refused = []
        for signed_with, what, credential in minted:
            must_pass = signed_with in accepted_everywhere
            for host in up.hosts:
                if not must_pass and signed_with in keys[host.name]:
                    continue  # an old-key credential on a host that still knows the key
                if isinstance(credential, dict):
                    read, rename = session_checks(host.address, credential, source, tag)
                    ok = read.body["user"] is not None and rename.status == 200
                else:
                    ok = bearer_check(host.address, credential, source, tag).status == 200
                if ok != must_pass:
                    refused.append(f"{what} on {host.name}: {'refused' if must_pass else 'passed'}")
        print(f"  step {step}: {label}: {len(minted)} credentials checked on every host")
        assert not refused, refused

    keys = {host.name: {"old"} for host in up.hosts}
    signs = {host.name: "old" for host in up.hosts}
    accepted_everywhere = {"old"}
    print("\nrolling key rotation, one host restarted at a time:")
    mint_and_check("all hosts: old key", signs)
    for label, secret_keys, signing in stages:
        for host in up.hosts:
            host.stop()
            host.start(MICROAPI_SECRET_KEYS=secret_keys, MICROAPI_SIGNING_KEY=signing)
            keys[host.name] = {"old" if key == old else "new" for key in secret_keys.split()}
            signs[host.name] = "old" if signing == old else "new"
            accepted_everywhere = set.intersection(*keys.values())
            mint_and_check(f"{host.name}: {label}", signs)
    # At the end: the old key's sessions and tokens are refused everywhere.
    assert accepted_everywhere == {"new"}
    old_ones = sum(signed == "old" for signed, _, _ in minted)
    print(f"  old-key credentials refused by every host: {old_ones}")
    assert old_ones > 0
    assert all(hosts == {host.name for host in up.hosts} for hosts in mints.values()), mints


def test_a_host_killed_under_load_loses_no_acknowledged_write(up: Topology) -> None:
    victim, survivor = up.hosts[1], up.hosts[0]
    load = Load(up.address, clients=6, requests=250, seconds=60, seed=15, name="kill-")
    for client in load.clients:
        client.source = f"127.0.0.{40 + client.index}"
        client.unknown_outcome = frozenset({502, 504})
    with load:
        load.wait_until_sent(400)
        victim.kill()
        killed_at = load.sent
    rows = up.todo_rows()
    mine = {i: state for i, state in rows.items() if state[0].startswith("kill-")}
    verdict = verify(load.clients, mine)
    statuses = load.total("statuses")
    failures = Counter(f"{f.op}: {f.error}" for f in load.failures)
    resent = sum(client.resent_deletes for client in load.clients)
    acked = load.total("acked")
    print(
        f"\nhost killed (SIGKILL, master and workers) after {killed_at} of {load.sent} requests:"
        f"\n  acknowledged writes {dict(acked)}, rows {verdict.rows},"
        f" acknowledged found {verdict.live}, deletes confirmed {verdict.deleted},"
        f" duplicates {sum('rows for' in w for w in verdict.wrong)};"
        f" writes in flight {verdict.uncertain}, of which committed {verdict.rows - verdict.live}"
        f"\n  statuses {dict(sorted(statuses.items()))}; in flight: {dict(failures)};"
        f" deletes resent by nginx (404) {resent}; {load.latency()}"
    )
    assert not load.problems, load.problems[:10]
    assert not verdict.wrong, verdict.wrong[:10]
    assert sum(status >= 500 for status in statuses.elements()) == sum(
        statuses[code] for code in (502, 504)
    )  # no 500 or 503: only the proxy's answers for requests in flight
    assert sum(failures.values()) <= len(load.clients)  # at most one in flight per client
    # Only what nginx never resends (POST, PATCH) can be lost in flight:
    # creates, updates and the invalid creates (a POST answered 422 when it
    # reaches a host); any other request only if the host died with its answer
    # begun (gunicorn sends the head, then the body): nginx has passed the head
    # on and can only cut the body short.
    assert all(
        f.split(":")[0] in ("create", "update", "invalid") or f.endswith(": IncompleteRead")
        for f in failures
    ), failures
    assert verdict.live == sum(len(client.live) for client in load.clients)
    assert survivor.process is not None
    assert survivor.process.poll() is None
    victim.start()  # back for the next test


def test_redis_killed_fails_open_and_limits_are_exact_again_after(up: Topology) -> None:
    tag = uuid.uuid4().hex[:8]
    clients = [f"127.0.0.{n}" for n in range(50, 54)]

    def burst(phase: str, count: int) -> dict[str, Counter[int]]:
        with ThreadPoolExecutor(len(clients)) as pool:
            counts = pool.map(
                lambda source: attempts(up, source, count, f"{tag}-{phase}-{source}"), clients
            )
            return dict(zip(clients, counts, strict=True))

    print(f"\nRedis killed (SIGKILL) and restarted empty, limit {LOGIN_LIMIT}, 4 clients:")
    before = burst("before", LIMIT + 3)
    print(f"  before: admitted {[admitted(c) for c in before.values()]} of {LIMIT + 3} each")
    up.redis.kill()
    outage = burst("outage", LIMIT + 5)
    served = hosts_of(up.nginx.served(f"{tag}-outage", len(clients) * (LIMIT + 5)), up.hosts)
    errors = sum(count for c in outage.values() for status, count in c.items() if status >= 500)
    print(
        f"  Redis down: admitted {[admitted(c) for c in outage.values()]} of {LIMIT + 5} each"
        f" (fail_open), 5xx {errors}; by {served}"
    )
    up.redis.start()  # on the same port; nothing else restarted
    wait_until(up.redis.ping, "Redis")
    # Each worker's circuit breaker tries Redis again once its back-off
    # (RedisStore's default, 1 s) has passed.
    time.sleep(1.2)
    after = burst("after", LIMIT + 5)
    print(f"  Redis back: admitted {[admitted(c) for c in after.values()]} of {LIMIT + 5} each")
    warning = "is unavailable, admitting requests unlimited"
    warnings = [host.logs().count(warning) for host in up.hosts]
    print(f"  outage warnings logged per host: {warnings}")
    assert all(admitted(c) == LIMIT for c in before.values())
    assert all(admitted(c) == LIMIT + 5 for c in outage.values())  # fail_open: all through
    assert errors == 0
    assert set(served) == {host.name for host in up.hosts}
    assert all(admitted(c) == LIMIT for c in after.values())
    assert all(count >= 1 for count in warnings)
