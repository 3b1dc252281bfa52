"""``bearer_auth()``: ``Authorization: Bearer <token>`` → ``req.user`` (RFC 6750)."""

from __future__ import annotations

import base64
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import pytest

from microapi import Api, HTTPError, Request, Res
from microapi.middleware import bearer_auth
from microapi.security import TOKEN_SALT, csrf_token_for, new_csrf_secret
from microapi.testing import TestClient, TestResponse
from tests.helpers import assert_problem


@dataclass
class User:
    id: str
    name: str


USERS = {"1": User("1", "ann"), "2": User("2", "bob")}


def auth_app(secret_key: Any = "k", **options: Any) -> Api:
    api = Api(secret_key=secret_key)
    api.middleware(bearer_auth(**options), match="/private/:path*")

    @api.route("/private/me")
    def me(req: Request, res: Res) -> dict[str, Any]:
        user = req.user
        return {"user": user if user is None or isinstance(user, dict) else user.name}

    @api.route("/public")
    def public(req: Request, res: Res) -> dict[str, Any]:
        return {"user": req.user}

    return api


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def load_user(payload: dict[str, Any]) -> User | None:
    return USERS.get(payload.get("sub", ""))


def challenge(response: TestResponse) -> str:
    value: str = response.headers["WWW-Authenticate"]
    return value


def invalid_token(response: TestResponse, description: str) -> None:
    problem = assert_problem(response, 401)
    assert problem["detail"] == description
    assert challenge(response) == (
        f'Bearer error="invalid_token", error_description="{description}"'
    )


def invalid_request(response: TestResponse) -> None:
    assert_problem(response, 400)
    assert challenge(response).startswith('Bearer error="invalid_request", error_description="')


# -- the happy path -------------------------------------------------------------------------


def test_a_valid_token_sets_req_user_to_its_payload() -> None:
    api = auth_app()
    client = TestClient(api)
    token = api.tokens.issue({"sub": "1", "scope": "read"})
    assert client.get("/private/me", headers=bearer(token)).json == {
        "user": {"sub": "1", "scope": "read"}
    }
    assert client.get("/public").json == {"user": None}  # match= leaves it alone


def test_load_user_turns_the_payload_into_the_user() -> None:
    api = auth_app(load_user=load_user)
    client = TestClient(api)
    response = client.get("/private/me", headers=bearer(api.tokens.issue({"sub": "2"})))
    assert response.json == {"user": "bob"}
    response = client.get("/private/me", headers=bearer(api.tokens.issue({"sub": "9"})))
    invalid_token(response, "the token's user is unknown")


def test_the_scheme_is_case_insensitive_and_spaces_are_lenient() -> None:
    api = auth_app()
    client = TestClient(api)
    token = api.tokens.issue({"sub": "1"})
    for header in (
        f"bearer {token}",
        f"BEARER {token}",
        f"BeArEr {token}",
        f"Bearer    {token}",
        f"Bearer {token}   ",
        f"   Bearer {token}",
        f"Bearer\t{token}",
    ):
        response = client.get("/private/me", headers={"Authorization": header})
        assert response.json == {"user": {"sub": "1"}}, header


# -- no credentials ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [None, "", "   ", "Basic YW5uOnNlY3JldA==", "Token abc", "Bearerabc", "Digest x=1", "Bearer,x"],
)
def test_no_bearer_credentials_is_401_without_an_error_code(header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = TestClient(auth_app()).get("/private/me", headers=headers)
    problem = assert_problem(response, 401)
    assert problem["detail"] == "authentication required: send Authorization: Bearer <token>"
    assert challenge(response) == "Bearer"


# -- malformed headers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "bearer \t ",
        "Bearer a b",
        'Bearer "quoted"',
        "Bearer tok!en",
        "Bearer a=b",
        "Bearer =abc",
        "Bearer tok\u00e9n",
        "Bearer x.y, Bearer x.y",
        "Bearer x.y,Bearer x.y",
    ],
)
def test_a_malformed_header_is_400_invalid_request(header: str) -> None:
    response = TestClient(auth_app()).get("/private/me", headers={"Authorization": header})
    invalid_request(response)


def test_duplicate_authorization_headers_are_400() -> None:
    api = auth_app()
    token = api.tokens.issue({"sub": "1"})
    headers = [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
    invalid_request(TestClient(api).get("/private/me", headers=headers))


def test_bearer_without_a_token_says_so() -> None:
    response = TestClient(auth_app()).get("/private/me", headers={"Authorization": "Bearer"})
    assert assert_problem(response, 400)["detail"] == (
        "the Authorization header has no token after Bearer"
    )


# -- invalid tokens ------------------------------------------------------------------------------


def test_tampered_and_truncated_tokens_are_invalid() -> None:
    api = auth_app()
    client = TestClient(api)
    token = api.tokens.issue({"sub": "1"})
    payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "2"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    for bad in (
        token[:-1],
        token[:10],
        payload,
        f"{payload}.",
        f"{forged}.{signature}",
        f"{payload}.{signature[::-1]}",
        token + "=",  # itsdangerous would accept padding
        token + "==",
        token.upper(),
        "x.y",
        "abc",
        "...",
    ):
        invalid_token(client.get("/private/me", headers=bearer(bad)), "the token is invalid")


def test_an_expired_token_is_invalid_token_saying_expired() -> None:
    api = auth_app()
    expired = api.keys.serializer(TOKEN_SALT, "test").dumps(
        {"sub": "1", "exp": int(time.time()) - 1}
    )
    response = TestClient(api).get("/private/me", headers=bearer(expired))
    invalid_token(response, "the token has expired")


def test_a_token_signed_with_a_removed_key_is_invalid() -> None:
    old = auth_app(secret_key="old-key")
    token = old.tokens.issue({"sub": "1"})
    rotated = TestClient(auth_app(secret_key=["old-key", "new-key"]))
    assert rotated.get("/private/me", headers=bearer(token)).json == {"user": {"sub": "1"}}
    removed = TestClient(auth_app(secret_key="new-key"))
    invalid_token(removed.get("/private/me", headers=bearer(token)), "the token is invalid")


def test_values_signed_for_other_purposes_are_invalid_tokens() -> None:
    api = auth_app()
    client = TestClient(api)
    session = Api(secret_key="k")

    @session.route("/login", methods=["POST"])
    def login(req: Request, res: Res) -> dict[str, Any]:
        req.session["sub"] = "1"
        return {}

    session_client = TestClient(session)
    session_client.post("/login")
    cookie = session_client.get_cookie("session")
    assert cookie is not None
    csrf_token = csrf_token_for(api.keys, new_csrf_secret())
    for value in (cookie.value, csrf_token):
        invalid_token(client.get("/private/me", headers=bearer(value)), "the token is invalid")


def test_alg_none_jwts_are_invalid() -> None:
    def b64(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims = {"sub": "1", "exp": int(time.time()) + 60}
    client = TestClient(auth_app())
    jwt = b64({"alg": "none", "typ": "JWT"}) + "." + b64(claims) + "."
    invalid_token(client.get("/private/me", headers=bearer(jwt)), "the token is invalid")
    response = client.get("/private/me", headers={"Authorization": f"JWT {jwt}"})
    assert challenge(response) == "Bearer"  # another scheme: no credentials


def test_a_huge_header_is_refused_without_a_500() -> None:
    client = TestClient(auth_app())
    huge = "A" * 1_000_000
    invalid_token(client.get("/private/me", headers=bearer(huge)), "the token is invalid")
    invalid_token(
        client.get("/private/me", headers=bearer(huge + "." + huge)), "the token is invalid"
    )
    invalid_request(client.get("/private/me", headers=bearer(huge + " " + huge)))
    response = client.get("/private/me", headers={"Authorization": " " * 100_000})
    assert challenge(response) == "Bearer"


def test_a_non_latin1_header_is_refused_without_a_500() -> None:
    client = TestClient(auth_app(), use_cookies=False)
    response = client.get(
        "/private/me", environ_overrides={"HTTP_AUTHORIZATION": "Bearer \xff\xfe.\x00"}
    )
    invalid_request(response)


# -- options ---------------------------------------------------------------------------------------


def test_optional_lets_anonymous_requests_through() -> None:
    api = auth_app(optional=True, load_user=load_user)
    client = TestClient(api)
    assert client.get("/private/me").json == {"user": None}
    assert client.get("/private/me", headers={"Authorization": "Basic eDp5"}).json == {"user": None}
    token = api.tokens.issue({"sub": "1"})
    assert client.get("/private/me", headers=bearer(token)).json == {"user": "ann"}
    # Credentials that are sent are still checked.
    invalid_token(client.get("/private/me", headers=bearer("x.y")), "the token is invalid")
    invalid_request(client.get("/private/me", headers={"Authorization": "Bearer"}))
    unknown = bearer(api.tokens.issue({"sub": "9"}))
    invalid_token(client.get("/private/me", headers=unknown), "the token's user is unknown")


def test_a_realm_goes_in_the_challenge() -> None:
    client = TestClient(auth_app(realm="todos api"))
    assert challenge(client.get("/private/me")) == 'Bearer realm="todos api"'
    response = client.get("/private/me", headers=bearer("x.y"))
    assert challenge(response) == (
        'Bearer realm="todos api", error="invalid_token", error_description="the token is invalid"'
    )


@pytest.mark.parametrize("realm", ['a"b', "a\\b", "a\nb", "caf\u00e9"])
def test_a_realm_that_cannot_be_quoted_is_refused(realm: str) -> None:
    with pytest.raises(ValueError, match="no quotes, backslashes or controls"):
        bearer_auth(realm=realm)


def test_what_load_user_raises_propagates() -> None:
    def disabled(payload: dict[str, Any]) -> User:
        raise HTTPError(403, "account disabled")

    api = auth_app(load_user=disabled)
    response = TestClient(api).get("/private/me", headers=bearer(api.tokens.issue({"sub": "1"})))
    assert assert_problem(response, 403)["detail"] == "account disabled"


def test_an_async_load_user_makes_the_middleware_async() -> None:
    async def load(payload: dict[str, Any]) -> User | None:
        return USERS.get(payload["sub"])

    async def me(req: Request, res: Res) -> dict[str, Any]:
        return {"user": None if req.user is None else req.user.name}

    def sync(req: Request, res: Res) -> dict[str, Any]:
        return {"user": req.user.name}

    api = Api(secret_key="k")
    api.middleware(bearer_auth(load_user=load))
    api.add_route("/me", me)
    api.add_route("/sync", sync)
    anonymous = Api(secret_key="k")
    anonymous.middleware(bearer_auth(load_user=load, optional=True))
    anonymous.add_route("/me", me)
    try:
        client = TestClient(api)
        assert client.get("/me", headers=bearer(api.tokens.issue({"sub": "1"}))).json == {
            "user": "ann"
        }
        assert client.get("/sync", headers=bearer(api.tokens.issue({"sub": "2"}))).json == {
            "user": "bob"
        }
        response = client.get("/me", headers=bearer(api.tokens.issue({"sub": "9"})))
        invalid_token(response, "the token's user is unknown")
        assert_problem(client.get("/me"), 401)
        assert TestClient(anonymous).get("/me").json == {"user": None}
        token = bearer(api.tokens.issue({"sub": "2"}))
        assert TestClient(anonymous).get("/me", headers=token).json == {"user": "bob"}
    finally:
        api.close()
        anonymous.close()


def test_the_problem_and_challenge_survive_other_middleware() -> None:
    api = Api(secret_key="k")

    @api.middleware
    def tag(req: Request, res: Res, next: Any) -> None:
        res.set_header("X-Seen", "yes")
        next()

    api.middleware(bearer_auth())

    @api.route("/x")
    def x(req: Request, res: Res) -> dict[str, Any]:
        return {}

    response = TestClient(api).get("/x")
    assert_problem(response, 401)
    assert response.headers["X-Seen"] == "yes"
    assert challenge(response) == "Bearer"


def test_without_a_key_verifying_is_a_500_naming_the_fix(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("MICROAPI_SECRET_KEY", raising=False)
    client = TestClient(auth_app(secret_key=None))
    assert_problem(client.get("/private/me"), 401)  # nothing to verify yet
    with caplog.at_level(logging.ERROR, logger="microapi.error"):
        assert_problem(client.get("/private/me", headers=bearer("x.y")), 500)
    (record,) = [r for r in caplog.records if r.name == "microapi.error"]
    assert record.exc_info is not None
    assert "MICROAPI_SECRET_KEY" in str(record.exc_info[1])
