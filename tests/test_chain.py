"""Middleware: the onion, matchers, short-circuits, errors, sync/async mixing."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from microapi import Api, HTTPError, Request, Res, Router
from microapi.chain import before_only
from microapi.middleware import bearer_auth, proxy_fix, rate_limit, request_id, security_headers
from microapi.testing import TestClient
from tests.helpers import assert_problem


def test_onion_in_registration_order(api: Api, client: TestClient) -> None:
    calls: list[str] = []

    @api.middleware
    def outer(req: Request, res: Res, next: Any) -> None:
        calls.append("outer in")
        next()
        calls.append("outer out")

    @api.middleware()
    def inner(req: Request, res: Res, next: Any) -> None:
        calls.append("inner in")
        next()
        calls.append("inner out")

    @api.route("/x")
    def handler(req: Request, res: Res) -> None:
        calls.append("handler")
        res.end()

    client.get("/x")
    assert calls == ["outer in", "inner in", "handler", "inner out", "outer out"]


def test_middleware_sees_params_and_sets_headers_after_next(api: Api, client: TestClient) -> None:
    @api.middleware
    def timing(req: Request, res: Res, next: Any) -> None:
        req.state.route_name = req.route.name if req.route else None
        next()
        res.set_header("Server-Timing", f"app;desc={req.params['id']}")

    @api.route("/users/[id]")
    def user(req: Request, res: Res) -> None:
        res.json({"route": req.state.route_name})

    response = client.get("/users/9")
    assert response.json == {"route": "user"}
    assert response.headers["Server-Timing"] == "app;desc=9"


def test_short_circuit(api: Api, client: TestClient) -> None:
    reached: list[bool] = []

    @api.middleware(match="/api/admin/:path*")
    def admin_only(req: Request, res: Res, next: Any) -> Any:
        if req.user is None:
            return res.status(401).json({"error": "unauthorized"})
        next()
        return None

    @api.route("/api/admin/users")
    def users(req: Request, res: Res) -> None:
        reached.append(True)
        res.json([])

    @api.route("/api/public")
    def public(req: Request, res: Res) -> None:
        res.json({"ok": True})

    assert client.get("/api/admin/users").status_code == 401
    assert reached == []
    assert client.get("/api/public").json == {"ok": True}


def test_middleware_return_values_are_sent(api: Api, client: TestClient) -> None:
    @api.middleware
    def gate(req: Request, res: Res, next: Any) -> Any:
        if "deny" in req.args:
            return {"error": "denied"}, 403
        next()
        return None

    @api.route("/x")
    def handler(req: Request, res: Res) -> None:
        res.json({"ok": True})

    assert client.get("/x?deny").status_code == 403
    assert client.get("/x").json == {"ok": True}


def test_middleware_that_sends_nothing_is_a_500(api: Api, client: TestClient) -> None:
    @api.middleware
    def forgetful(req: Request, res: Res, next: Any) -> None:
        pass

    @api.route("/x")
    def handler(req: Request, res: Res) -> None:
        res.end()

    assert client.get("/x").status_code == 500


def test_matchers_apply_to_dynamic_routes_per_request(api: Api, client: TestClient) -> None:
    @api.middleware(match=["/items/special", "/other"])
    def mark(req: Request, res: Res, next: Any) -> None:
        res.set_header("X-Special", "1")
        next()

    @api.route("/items/[id]")
    def item(req: Request, res: Res) -> None:
        res.json({"id": req.params["id"]})

    assert client.get("/items/special").headers.get("X-Special") == "1"
    assert "X-Special" not in client.get("/items/plain").headers


def test_matchers_run_on_misses_too(api: Api, client: TestClient) -> None:
    @api.middleware(match="/api/:path*")
    def tag(req: Request, res: Res, next: Any) -> None:
        res.set_header("X-Api", "1")
        next()

    assert client.get("/api/nothing").headers.get("X-Api") == "1"
    assert client.get("/api/nothing").status_code == 404
    assert "X-Api" not in client.get("/elsewhere").headers


def test_middleware_can_catch_exceptions_from_next(api: Api, client: TestClient) -> None:
    @api.middleware
    def rescue(req: Request, res: Res, next: Any) -> None:
        try:
            next()
        except LookupError:
            res.status(404).json({"error": "not found, rescued"})

    @api.route("/x")
    def handler(req: Request, res: Res) -> None:
        raise KeyError("x")

    assert client.get("/x").json == {"error": "not found, rescued"}
    assert client.get("/missing").status_code == 404  # HTTP errors still propagate


def test_router_middleware_runs_only_for_its_routes_inside_api_middleware(
    api: Api, client: TestClient
) -> None:
    calls: list[str] = []
    admin = Router(prefix="/admin")

    @api.middleware
    def outer(req: Request, res: Res, next: Any) -> None:
        calls.append("api")
        next()

    @admin.middleware
    def admin_mw(req: Request, res: Res, next: Any) -> None:
        calls.append("router")
        next()

    @admin.middleware(match="/reports/:id")
    def reports_only(req: Request, res: Res, next: Any) -> None:
        calls.append("reports")
        next()

    @admin.route("/reports/[id]")
    def report(req: Request, res: Res) -> None:
        res.end()

    @admin.route("/users")
    def users(req: Request, res: Res) -> None:
        res.end()

    @api.route("/public")
    def public(req: Request, res: Res) -> None:
        res.end()

    api.include(admin)
    client.get("/admin/reports/1")
    assert calls == ["api", "router", "reports"]
    calls.clear()
    client.get("/admin/users")
    assert calls == ["api", "router"]
    calls.clear()
    client.get("/public")
    assert calls == ["api"]


def test_async_handler_and_middleware_mix(api: Api, client: TestClient) -> None:
    calls: list[str] = []

    @api.middleware
    def sync_outer(req: Request, res: Res, next: Any) -> None:
        calls.append("sync in")
        next()
        calls.append("sync out")

    @api.middleware
    async def async_inner(req: Request, res: Res, next: Any) -> None:
        await asyncio.sleep(0)
        calls.append("async in")
        await next()
        calls.append("async out")

    @api.route("/a")
    async def handler(req: Request, res: Res) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"async": True}

    @api.route("/s")
    def sync_handler(req: Request, res: Res) -> None:
        res.json({"async": False})

    assert client.get("/a").json == {"async": True}
    assert calls == ["sync in", "async in", "async out", "sync out"]
    assert client.get("/s").json == {"async": False}


def test_async_then_sync_middleware_is_fine_with_a_sync_handler(
    api: Api, client: TestClient
) -> None:
    @api.middleware
    async def first(req: Request, res: Res, next: Any) -> None:
        await next()
        res.set_header("X-First", "1")

    @api.middleware
    def second(req: Request, res: Res, next: Any) -> None:
        next()
        res.set_header("X-Second", "1")

    @api.route("/x")
    def handler(req: Request, res: Res) -> None:
        res.end()

    response = client.get("/x")
    assert (response.headers["X-First"], response.headers["X-Second"]) == ("1", "1")


def test_async_sync_async_is_refused_at_registration(api: Api) -> None:
    @api.middleware
    async def first(req: Request, res: Res, next: Any) -> None:
        await next()

    def blocking(req: Request, res: Res, next: Any) -> None:
        next()

    api.middleware(blocking)

    async def handler(req: Request, res: Res) -> None:
        res.end()

    with pytest.raises(TypeError, match=r"middleware .*blocking is sync"):
        api.add_route("/x", handler)


def test_a_before_only_sync_middleware_runs_inside_async_ones(api: Api, client: TestClient) -> None:
    order: list[str] = []

    @api.middleware
    async def outer(req: Request, res: Res, next: Any) -> None:
        order.append("outer")
        await next()
        order.append("outer after")

    def guard(req: Request, res: Res, next: Any) -> Any:
        order.append("guard")
        if req.headers.get("X-Key") != "yes":
            raise HTTPError(401, "no key")
        res.set_header("X-Guarded", "1")
        return next()

    api.middleware(before_only(guard))

    @api.middleware
    async def inner(req: Request, res: Res, next: Any) -> None:
        order.append("inner")
        await next()

    @api.route("/x")
    async def handler(req: Request, res: Res) -> None:
        await asyncio.sleep(0)
        order.append("handler")
        res.json({"ok": True})

    # Its async form runs in the chain's async part, in order.
    response = client.get("/x", headers={"X-Key": "yes"})
    assert (response.json, response.headers["X-Guarded"]) == ({"ok": True}, "1")
    assert order == ["outer", "guard", "inner", "handler", "outer after"]
    order.clear()
    # Answering without next() stops the chain, as in its sync form.
    assert client.get("/x").status_code == 401
    assert order == ["outer", "guard"]


def test_a_before_only_middleware_returning_a_value_sends_it(api: Api, client: TestClient) -> None:
    @api.middleware
    async def outer(req: Request, res: Res, next: Any) -> None:
        await next()

    def short(req: Request, res: Res, next: Any) -> Any:
        return {"short": True}

    api.middleware(before_only(short))

    @api.route("/x")
    async def handler(req: Request, res: Res) -> None:
        res.json({"short": False})

    assert client.get("/x").json == {"short": True}


def test_a_before_only_middleware_keeps_its_sync_form_outside_async_code(
    api: Api, client: TestClient
) -> None:
    def mark(req: Request, res: Res, next: Any) -> None:
        res.set_header("X-Mark", "1")
        next()

    assert before_only(mark) is mark
    api.middleware(mark)

    @api.route("/x")
    def handler(req: Request, res: Res) -> None:
        res.end()

    assert client.get("/x").headers["X-Mark"] == "1"


def test_before_only_refuses_what_takes_no_attributes() -> None:
    class Guard:
        def check(self, req: Request, res: Res, next: Any) -> None:
            next()

    with pytest.raises(TypeError, match="before_only\\(\\) takes a function"):
        before_only(Guard().check)


def test_built_in_middleware_runs_inside_async_middleware() -> None:
    # Built-ins that work before next() only have async forms: an async
    # middleware may wrap them around an async handler.
    api = Api(secret_key="k" * 32)

    @api.middleware
    async def timing(req: Request, res: Res, next: Any) -> None:
        await next()
        res.set_header("X-Timed", "1")

    api.middleware(proxy_fix())
    api.middleware(security_headers())
    api.middleware(request_id())
    api.middleware(rate_limit("2/minute"))
    api.middleware(bearer_auth())

    @api.route("/me")
    async def me(req: Request, res: Res) -> None:
        await asyncio.sleep(0)
        res.json({"user": req.user, "https": req.scheme == "https"})

    client = TestClient(api)
    token = api.tokens.issue({"sub": "42"})
    forwarded = {"Authorization": f"Bearer {token}", "X-Forwarded-Proto": "https"}
    response = client.get("/me", headers=forwarded)
    assert response.json == {"user": {"sub": "42"}, "https": True}
    assert response.headers["X-Timed"] == "1"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert len(response.headers["X-Request-ID"]) == 32
    assert response.headers["RateLimit-Remaining"] == "1"
    assert_problem(client.get("/me"), 401)  # bearer_auth answers
    assert_problem(client.get("/me", headers=forwarded), 429)  # the third request


def test_bad_shape_from_a_new_middleware_is_refused_and_not_kept(api: Api) -> None:
    @api.middleware
    async def first(req: Request, res: Res, next: Any) -> None:
        await next()

    @api.route("/x")
    async def handler(req: Request, res: Res) -> None:
        res.end()

    def blocking(req: Request, res: Res, next: Any) -> None:
        next()

    with pytest.raises(TypeError, match="blocking"):
        api.middleware(blocking)
    assert TestClient(api).get("/x").status_code == 200


def test_async_errors_propagate_to_error_handlers(api: Api, client: TestClient) -> None:
    @api.route("/x")
    async def handler(req: Request, res: Res) -> None:
        raise HTTPError(418, "async teapot")

    response = client.get("/x")
    assert (response.status_code, response.json["detail"]) == (418, "async teapot")


def test_event_loop_is_reused_per_thread_and_closed(api: Api, client: TestClient) -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    @api.route("/loop")
    async def loop(req: Request, res: Res) -> None:
        loops.append(asyncio.get_running_loop())
        res.end()

    client.get("/loop")
    client.get("/loop")
    worker = threading.Thread(target=lambda: TestClient(api).get("/loop"))
    worker.start()
    worker.join()
    assert loops[0] is loops[1]
    assert loops[2] is not loops[0]
    assert loops[2].is_closed()  # its thread ended
    api.close()
    assert loops[0].is_closed()
    client.get("/loop")
    assert not loops[3].is_closed()  # a closed loop is replaced
    api.close()


def test_callable_objects_work_as_async_middleware(api: Api, client: TestClient) -> None:
    class Tagger:
        async def __call__(self, req: Request, res: Res, next: Any) -> None:
            await next()
            res.set_header("X-Tagger", "1")

    api.middleware(Tagger())

    @api.route("/x")
    async def handler(req: Request, res: Res) -> None:
        res.end()

    assert client.get("/x").headers["X-Tagger"] == "1"


def test_registration_after_first_request_is_refused(api: Api, client: TestClient) -> None:
    @api.route("/x")
    def handler(req: Request, res: Res) -> None:
        res.end()

    client.get("/x")
    with pytest.raises(RuntimeError, match="before the first request"):
        api.add_route("/y", handler)
    with pytest.raises(RuntimeError, match="before the first request"):
        api.middleware(lambda req, res, next: next())


def test_middleware_must_be_callable(api: Api) -> None:
    with pytest.raises(TypeError, match="not callable"):
        api.add_middleware("nope")  # type: ignore[arg-type]
