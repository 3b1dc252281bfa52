"""Secret keys with rotation, ``api.tokens`` and the CSRF token functions."""

from __future__ import annotations

import base64
import json
import logging
import time
import urllib.error
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import pytest
from itsdangerous import BadSignature, URLSafeSerializer

from microapi import Api, Request, Res
from microapi.middleware import bearer_auth, csrf
from microapi.security import (
    CSRF_SESSION_KEY,
    SESSION_SALT,
    TOKEN_SALT,
    ExpiredToken,
    InvalidToken,
    Keys,
    csrf_token_for,
    csrf_token_matches,
    load_keys,
    new_csrf_secret,
    session_csrf_token,
)
from microapi.testing import TestClient
from tests.helpers import assert_problem, other_spelling, serving

# -- keys -----------------------------------------------------------------------------


def test_load_keys_takes_one_key_or_a_list_oldest_first() -> None:
    assert load_keys("k") == [b"k"]
    assert load_keys(b"k") == [b"k"]
    assert load_keys(["old", b"new"]) == [b"old", b"new"]
    assert load_keys(("a", "b")) == [b"a", b"b"]
    assert load_keys("") == []
    assert load_keys([]) == []


def test_load_keys_refuses_what_is_not_a_key() -> None:
    with pytest.raises(TypeError, match="must be str or bytes, not int"):
        load_keys(["k", 1])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="empty key"):
        load_keys(["k", ""])


def test_the_key_comes_from_the_environment_unless_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MICROAPI_SECRET_KEY", "from-env")
    assert load_keys(None) == [b"from-env"]
    assert Api().keys.keys == [b"from-env"]
    assert Api(secret_key="given").keys.keys == [b"given"]
    token = Api().tokens.issue({"sub": "1"})
    assert Api(secret_key="from-env").tokens.verify(token) == {"sub": "1"}
    monkeypatch.setenv("MICROAPI_SECRET_KEY", "")
    assert load_keys(None) == []


def test_without_a_key_signing_fails_at_first_use_naming_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MICROAPI_SECRET_KEY", raising=False)
    api = Api()  # constructing is fine
    with pytest.raises(RuntimeError, match=r"api\.tokens needs a secret key.*MICROAPI_SECRET_KEY"):
        api.tokens.issue({"sub": "1"})
    with pytest.raises(RuntimeError, match="MICROAPI_SECRET_KEY"):
        api.tokens.verify("anything.at-all")
    with pytest.raises(RuntimeError, match="CSRF protection needs a secret key"):
        csrf_token_for(api.keys, new_csrf_secret())
    with pytest.raises(RuntimeError, match="CSRF protection needs a secret key"):
        csrf_token_matches(api.keys, "x.y", "secret")
    with pytest.raises(RuntimeError, match="secret key"):
        Api(secret_key=[]).tokens.issue({})


def test_keys_build_each_serializer_once() -> None:
    keys = Keys("k")
    assert keys.serializer("a", "x") is keys.serializer("a", "x")
    assert keys.serializer("a", "x") is not keys.serializer("b", "x")
    assert keys.timed_serializer("a", "x") is keys.timed_serializer("a", "x")


# -- tokens ---------------------------------------------------------------------------


def sign_raw(api: Api, payload: Any) -> str:
    """A token with any payload, signed exactly as api.tokens signs."""
    return api.keys.serializer(TOKEN_SALT, "test").dumps(payload)


def test_tokens_round_trip_without_exp() -> None:
    api = Api(secret_key="k")
    token = api.tokens.issue({"sub": "42", "roles": ["admin"]}, expires_in=60)
    assert isinstance(token, str)
    assert api.tokens.verify(token) == {"sub": "42", "roles": ["admin"]}
    assert api.tokens.verify(token.encode()) == {"sub": "42", "roles": ["admin"]}


def test_tokens_carry_their_expiry() -> None:
    api = Api(secret_key="k")
    before = int(time.time())
    token = api.tokens.issue({"sub": "1"}, expires_in=120)
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert before + 120 <= claims["exp"] <= int(time.time()) + 120
    assert api.tokens.verify(api.tokens.issue({})) == {}


@pytest.mark.parametrize("expires_in", [0, -5, 1.5, True, "60", None])
def test_issue_refuses_a_bad_lifetime(expires_in: Any) -> None:
    with pytest.raises(ValueError, match="expires_in must be a positive number"):
        Api(secret_key="k").tokens.issue({}, expires_in=expires_in)


def test_issue_refuses_a_bad_payload() -> None:
    tokens = Api(secret_key="k").tokens
    with pytest.raises(TypeError, match="must be a mapping, not list"):
        tokens.issue([1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must not set 'exp'"):
        tokens.issue({"exp": 1})
    with pytest.raises(TypeError):
        tokens.issue({"when": object()})


def test_an_expired_token_raises_expired_token() -> None:
    api = Api(secret_key="k")
    token = sign_raw(api, {"sub": "1", "exp": int(time.time()) - 1})
    with pytest.raises(ExpiredToken, match="expired") as info:
        api.tokens.verify(token)
    assert isinstance(info.value, InvalidToken)
    assert isinstance(info.value, BadSignature)
    still_valid = sign_raw(api, {"sub": "1", "exp": int(time.time()) + 60})
    assert api.tokens.verify(still_valid) == {"sub": "1"}


@pytest.mark.parametrize(
    "payload",
    [{"sub": "1"}, {"exp": "9999999999"}, {"exp": 1e12}, {"exp": None}, [1], "text", 7],
)
def test_a_signed_payload_without_an_int_exp_is_invalid(payload: Any) -> None:
    api = Api(secret_key="k")
    with pytest.raises(InvalidToken):
        api.tokens.verify(sign_raw(api, payload))


def tampered(token: str) -> list[str]:
    payload, signature = token.split(".")
    middle = len(signature) // 2
    flip = {"A": "B"}.get(signature[middle], "A")
    other = "B" if payload[3] != "B" else "C"
    return [
        token[:-1],  # truncated signature
        payload,  # no signature
        payload + ".",  # empty signature
        "." + signature,  # no payload
        payload[:-2] + "." + signature,  # truncated payload
        payload[:3] + other + payload[4:] + "." + signature,  # tampered payload
        payload + "." + signature[:middle] + flip + signature[middle + 1 :],
        payload + "." + signature + "A",  # one character too many
        other_spelling(token),  # same bytes, another spelling
        token + "=",  # padding itsdangerous would accept
        token + "==",
        token + ".",
        "." + token,  # "compressed" payload
        token + " ",
        " " + token,
        token.replace(".", ".\n"),
        token.upper(),
        token + "é",
        "",
        ".",
        "..",
        "a.b",
        "😀.😀",
    ]


def test_tampered_truncated_and_garbled_tokens_are_invalid() -> None:
    api = Api(secret_key="k")
    token = api.tokens.issue({"sub": "42"})
    for bad in tampered(token):
        with pytest.raises(InvalidToken):
            api.tokens.verify(bad)
    for bad_type in (None, 42, ["x"], b"\xff\xfe.x"):
        with pytest.raises(InvalidToken):
            api.tokens.verify(bad_type)  # type: ignore[arg-type]


def test_a_token_has_one_spelling() -> None:
    api = Api(secret_key="k")
    token = api.tokens.issue({"sub": "42"})
    serializer = api.keys.serializer(TOKEN_SALT, "test")
    for spelling in (other_spelling(token), token + "="):
        assert serializer.loads(spelling)["sub"] == "42"  # itsdangerous takes it
        with pytest.raises(InvalidToken, match="malformed token"):
            api.tokens.verify(spelling)
    secret = new_csrf_secret()
    csrf_token = csrf_token_for(api.keys, secret)
    assert not csrf_token_matches(api.keys, other_spelling(csrf_token), secret)


def test_alg_none_and_jwt_shapes_are_invalid() -> None:
    api = Api(secret_key="k")

    def b64(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims = {"sub": "1", "exp": int(time.time()) + 60}
    signature = api.tokens.issue({"sub": "1"}).split(".")[1]
    for forged in (
        b64({"alg": "none", "typ": "JWT"}) + "." + b64(claims) + ".",
        b64({"alg": "none"}) + "." + b64(claims),
        b64({"alg": "HS256"}) + "." + b64(claims) + "." + signature,
        b64(claims) + "." + signature,  # another token's signature
        b64(claims),
    ):
        with pytest.raises(InvalidToken):
            api.tokens.verify(forged)


def test_a_signed_payload_that_is_not_json_is_invalid() -> None:
    api = Api(secret_key="k")
    signer = api.keys.serializer(TOKEN_SALT, "test").make_signer(TOKEN_SALT)
    for raw in (b"bm90IGpzb24", b"_-_-", b".eJzLSM3JyQcABiwCFQ"):
        with pytest.raises(InvalidToken):
            api.tokens.verify(signer.sign(raw).decode())


def test_a_token_for_another_purpose_is_invalid() -> None:
    api = Api(secret_key="k")
    session_like = api.keys.timed_serializer(SESSION_SALT, "test").dumps({"sub": "1"})
    csrf_token = csrf_token_for(api.keys, new_csrf_secret())
    other_salt = URLSafeSerializer("k", salt="elsewhere").dumps(
        {"sub": "1", "exp": int(time.time()) + 60}
    )
    no_salt = URLSafeSerializer("k").dumps({"sub": "1", "exp": int(time.time()) + 60})
    for token in (session_like, csrf_token, other_salt, no_salt):
        with pytest.raises(InvalidToken):
            api.tokens.verify(token)


def test_rotation_signs_with_the_newest_key_and_verifies_all() -> None:
    old = Api(secret_key="old-key")
    both = Api(secret_key=["old-key", "new-key"])
    new = Api(secret_key="new-key")
    old_token = old.tokens.issue({"sub": "1"})
    assert both.tokens.verify(old_token) == {"sub": "1"}
    new_token = both.tokens.issue({"sub": "2"})
    assert new.tokens.verify(new_token) == {"sub": "2"}
    with pytest.raises(InvalidToken):
        old.tokens.verify(new_token)  # signed with the newest key
    with pytest.raises(InvalidToken):
        new.tokens.verify(old_token)  # its key was removed


def test_signing_key_signs_with_an_older_key_while_all_verify() -> None:
    old = Api(secret_key="old-key")
    learning = Api(secret_key=["old-key", "new-key"], signing_key="old-key")
    assert learning.keys.signing_key == b"old-key"
    token = learning.tokens.issue({"sub": "1"})
    # Signed with the old key: a host that does not know the new key yet accepts it.
    assert old.tokens.verify(token) == {"sub": "1"}
    with pytest.raises(InvalidToken):
        Api(secret_key="new-key").tokens.verify(token)
    # And it accepts what a host already signing with the new key mints.
    assert learning.tokens.verify(Api(secret_key="new-key").tokens.issue({"sub": "2"})) == {
        "sub": "2"
    }
    assert Api(secret_key=["old-key", "new-key"], signing_key=b"new-key").keys.signing_key == (
        b"new-key"
    )


def test_signing_key_must_be_one_of_the_keys() -> None:
    with pytest.raises(ValueError, match="signing_key must be one of the secret keys") as info:
        Api(secret_key=["old-key", "new-key"], signing_key="other-key")
    assert "other-key" not in str(info.value)  # a key is never echoed
    with pytest.raises(ValueError, match="one of the secret keys"):
        Keys([], signing_key="k")


# -- CSRF tokens ------------------------------------------------------------------------


def test_a_session_csrf_token_starts_its_secret_once() -> None:
    keys = Keys("k")
    session: dict[str, object] = {}
    token = session_csrf_token(keys, session)
    secret = session[CSRF_SESSION_KEY]
    assert isinstance(secret, str)
    assert csrf_token_matches(keys, token, secret)
    assert session_csrf_token(keys, session) == token  # the same secret kept
    session[CSRF_SESSION_KEY] = 42  # not a secret: a new one replaces it
    assert session_csrf_token(keys, session) != token
    assert isinstance(session[CSRF_SESSION_KEY], str)


def test_csrf_tokens_name_their_secret() -> None:
    keys = Keys("k")
    secret, other = new_csrf_secret(), new_csrf_secret()
    assert secret != other
    assert len(secret) >= 22
    token = csrf_token_for(keys, secret)
    assert csrf_token_matches(keys, token, secret)
    assert not csrf_token_matches(keys, token, other)
    assert not csrf_token_matches(keys, csrf_token_for(keys, other), secret)
    assert not csrf_token_matches(keys, secret, secret)  # the bare secret
    assert not csrf_token_matches(Keys("other"), token, secret)
    assert not csrf_token_matches(keys, token + "=", secret)
    assert not csrf_token_matches(keys, token, "é" + secret)  # no TypeError
    assert csrf_token_matches(keys, csrf_token_for(keys, "é"), "é")
    assert not csrf_token_matches(keys, token, None)
    assert not csrf_token_matches(keys, None, secret)
    assert not csrf_token_matches(keys, token.encode(), secret)
    assert not csrf_token_matches(keys, Api(secret_key="k").tokens.issue({}), secret)
    for bad in tampered(token):
        assert not csrf_token_matches(keys, bad, secret)


def test_csrf_tokens_are_remembered_within_bounds() -> None:
    keys = Keys("k")
    first = csrf_token_for(keys, "secret-0")
    for index in range(3000):
        assert csrf_token_matches(keys, csrf_token_for(keys, f"secret-{index}"), f"secret-{index}")
    assert len(keys._csrf_tokens) <= 1024
    assert csrf_token_for(keys, "secret-0") == first
    assert csrf_token_for(Keys("k"), "secret-0") == first


def test_csrf_tokens_rotate_with_the_keys() -> None:
    secret = new_csrf_secret()
    old_token = csrf_token_for(Keys("old-key"), secret)
    assert csrf_token_matches(Keys(["old-key", "new-key"]), old_token, secret)
    assert not csrf_token_matches(Keys("new-key"), old_token, secret)


# -- rotation end to end ----------------------------------------------------------------


def rotation_app(secret_key: str | list[str]) -> Api:
    api = Api(secret_key=secret_key)
    api.middleware(csrf())
    api.middleware(bearer_auth(), match="/private")

    @api.route("/login", methods=["POST"])
    def login(req: Request, res: Res) -> dict[str, Any]:
        req.session["user"] = "ann"
        return {"token": req.api.tokens.issue({"sub": "ann"})}  # type: ignore[union-attr]

    @api.route("/me", methods=["GET", "POST"])
    def me(req: Request, res: Res) -> dict[str, Any]:
        return {"user": req.session.get("user")}

    @api.route("/private")
    def private(req: Request, res: Res) -> dict[str, Any]:
        return {"user": req.user}

    return api


def test_rotation_end_to_end() -> None:
    old = TestClient(rotation_app("old-key"))
    token = old.post("/login").json["token"]
    csrf_cookie = old.get_cookie("csrf_token")
    session_cookie = old.get_cookie("session")
    assert csrf_cookie is not None
    assert session_cookie is not None

    rotated = TestClient(rotation_app(["old-key", "new-key"]))
    rotated.set_cookie("session", session_cookie.value)
    rotated.set_cookie("csrf_token", csrf_cookie.value)
    bearer = {"Authorization": f"Bearer {token}"}
    assert rotated.get("/private", headers=bearer).json == {"user": {"sub": "ann"}}
    response = rotated.post("/me", headers={"X-CSRF-Token": csrf_cookie.value})
    assert response.json == {"user": "ann"}
    # The readable cookie is re-signed with the newest key; both tokens pass.
    renewed = rotated.get_cookie("csrf_token")
    assert renewed is not None
    assert renewed.value != csrf_cookie.value
    assert rotated.post("/me", headers={"X-CSRF-Token": renewed.value}).json == {"user": "ann"}
    assert rotated.post("/me", headers={"X-CSRF-Token": csrf_cookie.value}).status_code == 200

    removed = TestClient(rotation_app("new-key"))
    removed.set_cookie("session", session_cookie.value)  # signed with the old key only
    problem = assert_problem(removed.get("/private", headers=bearer), 401)
    assert problem["detail"] == "the token is invalid"
    assert_problem(removed.post("/me", headers={"X-CSRF-Token": csrf_cookie.value}), 403)
    assert_problem(removed.post("/me", headers={"X-CSRF-Token": renewed.value}), 403)
    assert removed.get("/me").json == {"user": None}


# -- a real server ----------------------------------------------------------------------

APP = """
from microapi import Api
from microapi.middleware import bearer_auth, csrf

api = Api()  # MICROAPI_SECRET_KEY
api.middleware(csrf())
api.middleware(bearer_auth(), match="/private")

@api.route("/login", methods=["POST"])
def login(req, res):
    req.session["user"] = "ann"
    return {"ok": True}

@api.route("/me", methods=["POST"])
def me(req, res):
    return {"user": req.session.get("user")}

@api.route("/private")
def private(req, res):
    return {"user": req.user}
"""


def test_server_workers_share_the_key_from_the_environment(
    tmp_path: Path, server_name: str
) -> None:
    (tmp_path / "h3_security_app.py").write_text(APP)
    key = "a-key-from-the-environment"
    token = Api(secret_key=key).tokens.issue({"sub": "ann"})
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def call(url: str, method: str, headers: dict[str, str]) -> tuple[int, Any]:
        request = urllib.request.Request(url, method=method, headers=headers, data=b"")
        try:
            with opener.open(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            with error:
                return error.code, json.loads(error.read())

    env = {"MICROAPI_SECRET_KEY": key, "PYTHONPATH": str(tmp_path)}
    with serving("h3_security_app:api", tmp_path, server_name, env=env) as (host, port):
        base = f"http://{host}:{port}"
        assert call(f"{base}/login", "POST", {}) == (200, {"ok": True})
        csrf_value = next(cookie.value for cookie in jar if cookie.name == "csrf_token")
        assert csrf_value is not None
        status, problem = call(f"{base}/me", "POST", {})
        assert (status, problem["title"]) == (403, "Forbidden")
        for _ in range(4):  # both workers, most likely; each must agree
            assert call(f"{base}/me", "POST", {"X-CSRF-Token": csrf_value}) == (
                200,
                {"user": "ann"},
            )
            status, body = call(f"{base}/private", "GET", {"Authorization": f"Bearer {token}"})
            assert (status, body) == (200, {"user": {"sub": "ann"}})
        status, problem = call(f"{base}/private", "GET", {"Authorization": "Bearer x.y"})
        assert (status, problem["status"]) == (401, 401)


def test_no_key_answers_500_and_logs_the_fix(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("MICROAPI_SECRET_KEY", raising=False)
    api = Api()

    @api.route("/issue")
    def issue(req: Request, res: Res) -> dict[str, Any]:
        return {"token": api.tokens.issue({"sub": "1"})}

    with caplog.at_level(logging.ERROR, logger="microapi.error"):
        assert_problem(TestClient(api).get("/issue"), 500)
    (record,) = [r for r in caplog.records if r.name == "microapi.error"]
    assert record.exc_info is not None
    assert "MICROAPI_SECRET_KEY" in str(record.exc_info[1])


def test_a_verified_token_is_remembered_but_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    api = Api(secret_key="k")
    token = api.tokens.issue({"sub": 1}, expires_in=60)
    first = api.tokens.verify(token)
    first["sub"] = 2  # the caller's copy: the remembered payload is untouched
    assert api.tokens.verify(token) == {"sub": 1}
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 61)
    with pytest.raises(ExpiredToken):
        api.tokens.verify(token)


def test_nested_payloads_are_verified_every_time_and_never_shared() -> None:
    api = Api(secret_key="k")
    token = api.tokens.issue({"roles": ["admin"]})
    api.tokens.verify(token)["roles"].append("root")
    assert api.tokens.verify(token) == {"roles": ["admin"]}


def test_the_remembered_tokens_are_bounded() -> None:
    api = Api(secret_key="k")
    tokens = [api.tokens.issue({"n": n}) for n in range(1500)]
    assert [api.tokens.verify(token)["n"] for token in tokens] == list(range(1500))
    assert len(api.tokens._verified) <= 1024
    # A forged variant of a remembered token is still refused.
    with pytest.raises(InvalidToken):
        api.tokens.verify(tokens[-1] + "x")
