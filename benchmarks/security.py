"""What the security middleware costs: one route bare, and behind the usual stack.

``python -m benchmarks.security`` times a hello route in process, bare and
behind ``cors`` + ``rate_limit(MemoryStore)`` + ``bearer_auth`` (a valid
token and an allowed ``Origin`` on every request), interleaved, and prints
the best µs per request of each and their ratio.  Both answers are checked
before timing.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable, Sequence
from typing import Any

from werkzeug.test import create_environ

from microapi import Api, Request, Res
from microapi.middleware import MemoryStore, bearer_auth, cors, rate_limit

ORIGIN = "https://app.example.com"


def make_api(secured: bool) -> Api:
    """The hello route, bare or behind cors + rate_limit + bearer_auth."""
    api = Api(secret_key="benchmark key")
    if secured:
        api.middleware(cors(origins=[ORIGIN]))
        api.middleware(rate_limit("1000000000/day", store=MemoryStore()))
        api.middleware(bearer_auth())

    @api.route("/hello")
    def hello(req: Request, res: Res) -> None:
        res.json({"message": "Hello API!"})

    return api


def environ_for(api: Api, secured: bool) -> dict[str, Any]:
    """A GET /hello environ; with an allowed Origin and a valid token when *secured*."""
    headers = {}
    if secured:
        token = api.tokens.issue({"sub": 1}, expires_in=10**6)
        headers = {"Origin": ORIGIN, "Authorization": f"Bearer {token}"}
    return create_environ("/hello", environ_base={"REMOTE_ADDR": "10.0.0.1"}, headers=headers)


def call(api: Api, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """One request: status line, headers, body."""
    seen: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc: Any = None) -> None:
        seen[:] = [status, headers]

    body = b"".join(api(dict(environ), start_response))
    return seen[0], seen[1], body


def timed(api: Api, environ: dict[str, Any], calls: int) -> float:
    """µs per request over *calls* requests."""

    def start_response(status: str, headers: Iterable[tuple[str, str]], exc: Any = None) -> None:
        pass

    start = time.perf_counter()
    for _ in range(calls):
        for _chunk in api(dict(environ), start_response):
            pass
    return (time.perf_counter() - start) / calls * 1e6


def main(argv: Sequence[str] | None = None) -> int:
    """Check both answers, time them interleaved, print the result."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.security", description=__doc__)
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    parser.add_argument("--calls", type=int, default=5000, help="requests per batch (default 5000)")
    args = parser.parse_args(argv)
    apps = {}
    for name, secured in (("bare", False), ("secured", True)):
        api = make_api(secured)
        environ = environ_for(api, secured)
        status, headers, body = call(api, environ)
        assert status == "200 OK", status
        assert body == b'{"message":"Hello API!"}', body
        names = {name for name, _ in headers}
        assert ({"Access-Control-Allow-Origin", "RateLimit-Limit"} <= names) == secured, names
        apps[name] = (api, environ)
    best = {name: float("inf") for name in apps}
    for round_ in range(args.rounds):
        for name in sorted(apps, reverse=bool(round_ % 2)):
            best[name] = min(best[name], timed(*apps[name], args.calls))
    bare, secured = best["bare"], best["secured"]
    print(
        f"bare {bare:.2f} µs/request; cors + rate_limit(MemoryStore) + bearer_auth "
        f"{secured:.2f} µs/request: {secured / bare:.2f} times (+{secured - bare:.2f} µs)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
