"""``req.session``: a dict in a signed cookie, read lazily, written when modified."""

from __future__ import annotations

import logging
import secrets
import time
from datetime import datetime
from typing import Any

import pytest
from itsdangerous import TimestampSigner, URLSafeSerializer, URLSafeTimedSerializer
from werkzeug.test import EnvironBuilder

from microapi import Api, Request, Res
from microapi.security import SESSION_SALT, csrf_token_for, new_csrf_secret
from microapi.sessions import MAX_COOKIE_SIZE, cookie_values
from microapi.testing import TestClient, TestResponse
from tests.helpers import assert_problem, other_spelling


def session_app(**options: Any) -> Api:
    api = Api(secret_key=options.pop("secret_key", "k"), **options)

    @api.route("/read")
    def read(req: Request, res: Res) -> dict[str, Any]:
        return dict(req.session)

    @api.route("/write", methods=["POST"])
    def write(req: Request, res: Res) -> dict[str, Any]:
        req.session.update(req.body or {})
        return dict(req.session)

    @api.route("/clear", methods=["POST"])
    def clear(req: Request, res: Res) -> dict[str, Any]:
        req.session.clear()
        return {}

    @api.route("/untouched")
    def untouched(req: Request, res: Res) -> dict[str, Any]:
        return {}

    return api


def set_cookies(response: TestResponse) -> list[str]:
    return response.headers.getlist("Set-Cookie")


def session_cookie(value: dict[str, Any], key: str = "k", salt: str = SESSION_SALT) -> str:
    return URLSafeTimedSerializer(key, salt=salt).dumps(value)


def read_with(cookie_header: str, api: Api | None = None) -> TestResponse:
    client = TestClient(api or session_app(), use_cookies=False)
    return client.get("/read", environ_overrides={"HTTP_COOKIE": cookie_header})


# -- writing ----------------------------------------------------------------------------


def test_a_session_round_trips_in_a_signed_cookie() -> None:
    client = TestClient(session_app())
    assert client.post("/write", json={"user": "ann", "n": 1}).json == {"user": "ann", "n": 1}
    assert client.get("/read").json == {"user": "ann", "n": 1}
    assert client.post("/write", json={"n": 2}).json == {"user": "ann", "n": 2}
    assert client.get("/read").json == {"user": "ann", "n": 2}


def test_the_cookie_is_http_only_lax_and_lasts_session_max_age() -> None:
    response = TestClient(session_app(session_max_age=600)).post("/write", json={"a": 1})
    (cookie,) = set_cookies(response)
    assert cookie.startswith("session=")
    assert "; HttpOnly" in cookie
    assert "; SameSite=Lax" in cookie
    assert "; Path=/" in cookie
    assert "; Max-Age=600" in cookie
    assert "Secure" not in cookie
    assert response.headers.getlist("Vary") == ["Cookie"]


def test_the_cookie_is_secure_over_https() -> None:
    client = TestClient(session_app())
    (cookie,) = set_cookies(client.post("/write", json={"a": 1}, base_url="https://localhost"))
    assert "; Secure" in cookie


def test_the_cookie_name_is_configurable() -> None:
    client = TestClient(session_app(session_cookie="sid"))
    (cookie,) = set_cookies(client.post("/write", json={"a": 1}))
    assert cookie.startswith("sid=")
    assert client.get("/read").json == {"a": 1}


def test_reading_adds_vary_cookie_but_writes_nothing() -> None:
    client = TestClient(session_app())
    client.post("/write", json={"a": 1})
    response = client.get("/read")
    assert response.json == {"a": 1}
    assert set_cookies(response) == []
    assert response.headers.getlist("Vary") == ["Cookie"]
    untouched = client.get("/untouched")
    assert "Vary" not in untouched.headers
    assert set_cookies(untouched) == []


def test_a_session_read_by_a_failing_handler_still_varies() -> None:
    api = Api(secret_key="k")

    @api.route("/fail")
    def fail(req: Request, res: Res) -> None:
        req.session.get("user")
        raise LookupError("boom")

    response = TestClient(api).get("/fail")
    assert_problem(response, 500)
    assert response.headers.getlist("Vary") == ["Cookie"]


def test_changes_inside_values_need_modified() -> None:
    api = Api(secret_key="k")

    @api.route("/start", methods=["POST"])
    def start(req: Request, res: Res) -> dict[str, Any]:
        req.session["cart"] = []
        return {}

    @api.route("/add", methods=["POST"])
    def add(req: Request, res: Res) -> dict[str, Any]:
        req.session["cart"].append(req.args["item"])
        req.session.modified = req.args.get("mark") == "1"
        return {}

    @api.route("/cart")
    def cart(req: Request, res: Res) -> dict[str, Any]:
        return {"cart": req.session["cart"]}

    client = TestClient(api)
    client.post("/start")
    assert set_cookies(client.post("/add?item=a")) == []
    assert client.get("/cart").json == {"cart": []}
    assert len(set_cookies(client.post("/add?item=b&mark=1"))) == 1
    assert client.get("/cart").json == {"cart": ["b"]}


def test_an_emptied_session_deletes_the_cookie() -> None:
    client = TestClient(session_app())
    client.post("/write", json={"a": 1})
    (cookie,) = set_cookies(client.post("/clear"))
    assert cookie.startswith("session=;")
    assert "Max-Age=0" in cookie
    assert client.get_cookie("session") is None
    assert client.get("/read").json == {}
    # No cookie was sent: nothing to delete.
    assert set_cookies(client.post("/clear")) == []


def test_a_plain_dict_assigned_to_req_session_is_saved() -> None:
    api = Api(secret_key="k")

    @api.route("/replace", methods=["POST"])
    def replace(req: Request, res: Res) -> dict[str, Any]:
        req.session = {"user": "bob"}  # type: ignore[assignment]
        return {}

    @api.route("/read")
    def read(req: Request, res: Res) -> dict[str, Any]:
        return dict(req.session)

    client = TestClient(api)
    assert len(set_cookies(client.post("/replace"))) == 1
    assert client.get("/read").json == {"user": "bob"}


def test_del_req_session_loads_it_from_the_cookie_again() -> None:
    api = Api(secret_key="k")

    @api.route("/login", methods=["POST"])
    def login(req: Request, res: Res) -> dict[str, Any]:
        req.session["user"] = "bob"
        return {}

    @api.route("/undo", methods=["POST"])
    def undo(req: Request, res: Res) -> dict[str, Any]:
        req.session["user"] = "eve"
        del req.session  # the change is dropped; the next read is the cookie's
        return dict(req.session)

    client = TestClient(api)
    client.post("/login")
    response = client.post("/undo")
    assert response.json == {"user": "bob"}
    assert set_cookies(response) == []  # unmodified: not written again


def test_a_session_too_big_for_its_cookie_is_a_500_naming_the_size(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = TestClient(session_app())
    with caplog.at_level(logging.ERROR, logger="microapi.error"):
        response = client.post("/write", json={"blob": secrets.token_urlsafe(4000)})
    assert_problem(response, 500)
    assert set_cookies(response) == []
    (record,) = [r for r in caplog.records if r.name == "microapi.error"]
    assert record.exc_info is not None
    message = str(record.exc_info[1])
    assert message.startswith("cannot save req.session: its cookie 'session' would be ")
    size = int(message.split("would be ")[1].split()[0])
    assert size > MAX_COOKIE_SIZE
    assert f"over the {MAX_COOKIE_SIZE} that browsers keep" in message
    assert "POST /write" in record.getMessage()
    # Just under the limit is fine.
    assert client.post("/write", json={"blob": secrets.token_urlsafe(2000)}).status_code == 200


def test_a_session_holding_something_json_cannot_encode_is_a_clear_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    api = Api(secret_key="k")

    @api.route("/when", methods=["POST"])
    def when(req: Request, res: Res) -> dict[str, Any]:
        req.session["when"] = datetime(2026, 1, 1)
        return {}

    with caplog.at_level(logging.ERROR, logger="microapi.error"):
        assert_problem(TestClient(api).post("/when"), 500)
    (record,) = [r for r in caplog.records if r.name == "microapi.error"]
    assert record.exc_info is not None
    assert "cannot save req.session: Object of type datetime" in str(record.exc_info[1])


def test_without_a_key_req_session_is_a_500_naming_the_fix(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("MICROAPI_SECRET_KEY", raising=False)
    with caplog.at_level(logging.ERROR, logger="microapi.error"):
        assert_problem(TestClient(session_app(secret_key=None)).get("/read"), 500)
    (record,) = [r for r in caplog.records if r.name == "microapi.error"]
    assert record.exc_info is not None
    assert "req.session needs a secret key" in str(record.exc_info[1])
    assert "MICROAPI_SECRET_KEY" in str(record.exc_info[1])


# -- reading hostile cookies ----------------------------------------------------------------


def test_a_tampered_garbled_or_truncated_cookie_is_an_empty_session() -> None:
    good = session_cookie({"user": "ann"})
    assert read_with(f"session={good}").json == {"user": "ann"}
    payload, stamp, signature = good.split(".")
    middle = len(signature) // 2
    flip = {"A": "B"}.get(signature[middle], "A")
    evil = session_cookie({"user": "admin"}).split(".")[0]
    for bad in (
        good[:-1],
        good[:-10],
        payload,
        f"{payload}.{stamp}",
        f"{evil}.{stamp}.{signature}",  # another payload, this signature
        f"{payload}.{stamp}.{signature[:middle]}{flip}{signature[middle + 1 :]}",
        f"{payload}.AAAAAA.{signature}",  # another timestamp
        "",
        ".",
        "..",
        "%%%",
        "x" * 300,
        good.upper(),
    ):
        response = read_with(f"session={bad}")
        assert response.status_code == 200
        assert response.json == {}, bad


def test_a_cookie_has_one_spelling() -> None:
    good = session_cookie({"user": "ann"})
    signer = URLSafeTimedSerializer("k", salt=SESSION_SALT)
    for spelling in (other_spelling(good), good + "=", good + "=="):
        assert signer.loads(spelling) == {"user": "ann"}  # itsdangerous takes it
        response = read_with(f"session={spelling}")
        assert response.status_code == 200
        assert response.json == {}, spelling


def test_a_cookie_signed_with_a_removed_key_is_an_empty_session() -> None:
    old = session_cookie({"user": "ann"}, key="old-key")
    rotated = session_app(secret_key=["old-key", "new-key"])
    assert read_with(f"session={old}", rotated).json == {"user": "ann"}
    assert read_with(f"session={old}", session_app(secret_key="new-key")).json == {}
    # The rotated app signs with the newest key.
    client = TestClient(rotated)
    client.post("/write", json={"user": "bob"})
    cookie = client.get_cookie("session")
    assert cookie is not None
    assert read_with(f"session={cookie.value}", session_app(secret_key="new-key")).json == {
        "user": "bob"
    }
    assert read_with(f"session={cookie.value}", session_app(secret_key="old-key")).json == {}


def test_an_expired_or_future_cookie_is_an_empty_session() -> None:
    def signed_at(offset: int) -> str:
        class Shifted(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(time.time()) + offset

        return URLSafeTimedSerializer("k", salt=SESSION_SALT, signer=Shifted).dumps({"a": 1})

    hour_old = signed_at(-3600)
    assert read_with(f"session={hour_old}", session_app(session_max_age=7200)).json == {"a": 1}
    assert read_with(f"session={hour_old}", session_app(session_max_age=60)).json == {}
    assert read_with(f"session={signed_at(3600)}", session_app(session_max_age=60)).json == {}


def test_a_value_signed_for_another_purpose_is_an_empty_session() -> None:
    api = session_app()
    token = api.tokens.issue({"user": "admin"})
    csrf_token = csrf_token_for(api.keys, new_csrf_secret())
    other_salt = session_cookie({"user": "admin"}, salt="microapi.tokens")
    untimed = URLSafeSerializer("k", salt=SESSION_SALT).dumps({"user": "admin"})
    not_a_dict = session_cookie(["user", "admin"])  # type: ignore[arg-type]
    for value in (token, csrf_token, other_salt, untimed, not_a_dict):
        assert read_with(f"session={value}", api).json == {}, value


def test_nameless_and_malformed_cookies_never_shadow_the_session() -> None:
    good = session_cookie({"user": "ann"})
    for header in (
        f"=x; session={good}",
        f"=session; session={good}",
        f"session; session={good}",
        f"session=; session={good}",
        f'session="unterminated; session={good}',
        f'session="\\"quoted\\""; session={good}',
        f"session=a b; session={good}",
        f"garbage without equals; session={good}",
        f";;; ; session={good}",
        f"session=x\x00; session={good}",
        f"sessionx=1; xsession=2; session={good}",
        f'session="{good}"',  # a quoted value is the value
        f"  session = {good}  ",
    ):
        assert read_with(header).json == {"user": "ann"}, header


def test_of_duplicate_session_cookies_the_first_that_verifies_wins() -> None:
    first = session_cookie({"user": "ann"})
    second = session_cookie({"user": "bob"})
    forged = session_cookie({"user": "eve"}, key="attacker")
    assert read_with(f"session={first}; session={second}").json == {"user": "ann"}
    assert read_with(f"session={second}; session={first}").json == {"user": "bob"}
    assert read_with(f"session={forged}; session={first}").json == {"user": "ann"}
    assert read_with(f"session={forged}; theme=dark; session={second}").json == {"user": "bob"}


def test_oversized_and_non_utf8_cookies_are_an_empty_session_not_a_500() -> None:
    good = session_cookie({"user": "ann"})
    for header in (
        "session=" + "A" * 10_000,
        "session=" + "A" * 5000 + "." + "B" * 5000,
        "; ".join(f"c{i}={'v' * 30}" for i in range(300)),
        "session=\xff\xfe",
        "\xff=\xfe; session=\xe9",
    ):
        response = read_with(header)
        assert response.status_code == 200
        assert response.json == {}
    assert read_with(f"x=\xff\xfe; session={good}").json == {"user": "ann"}
    assert read_with("c=" + "v" * 10_000 + f"; session={good}").json == {"user": "ann"}


def test_an_unreadable_cookie_is_replaced_when_the_session_is_written() -> None:
    client = TestClient(session_app(), use_cookies=False)
    response = client.post(
        "/write", json={"a": 1}, environ_overrides={"HTTP_COOKIE": "session=forged.x.y"}
    )
    assert response.json == {"a": 1}
    (cookie,) = set_cookies(response)
    assert cookie.startswith("session=")
    assert "forged" not in cookie


def values(header: str | None, name: str = "session") -> list[str]:
    environ = {} if header is None else {"HTTP_COOKIE": header}
    return cookie_values(Request(environ), name)


def test_cookie_values_reads_every_value_in_order() -> None:
    assert values(None) == []
    assert values("") == []
    assert values("theme=dark") == []
    assert values("mysession=1") == []
    assert values("session=1; a=2; session=3") == ["1", "3"]
    # Not UTF-8: werkzeug's req.cookies, as WSGI gives the bytes; never a 500.
    assert values("session=\xe9\xff") == ["\xe9\xff"]


def test_a_request_outside_an_api_has_no_session() -> None:
    req = Request(EnvironBuilder(headers={"Cookie": "session=x"}).get_environ())
    with pytest.raises(RuntimeError, match="needs a request dispatched by an Api"):
        req.session  # noqa: B018
