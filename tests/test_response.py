"""``res``: the builder, return values, ETag/304, HEAD, files and streams."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import gc
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from wsgiref.validate import validator

import pytest
from werkzeug.datastructures import Headers
from werkzeug.test import create_environ
from werkzeug.wrappers import Response as WerkzeugResponse

from microapi import Api, HTTPError, Request, Res
from microapi.middleware import MemoryStore, cors, rate_limit, request_id, security_headers
from microapi.testing import TestClient
from tests.helpers import assert_problem, raw_call


def test_status_json_chain(api: Api, client: TestClient) -> None:
    @api.route("/hello")
    def hello(req: Request, res: Res) -> None:
        res.status(201).json({"message": "Hello API!"})

    response = client.get("/hello")
    assert response.status_code == 201
    assert response.content_type == "application/json"
    assert response.json == {"message": "Hello API!"}
    assert response.headers["Content-Length"] == str(len(response.data))


def test_json_encodes_common_types(api: Api, client: TestClient) -> None:
    @dataclasses.dataclass
    class Point:
        x: int
        when: datetime.date

    @api.route("/types")
    def types(req: Request, res: Res) -> None:
        res.json(
            {
                "at": datetime.datetime(2026, 1, 2, 3, 4, 5),
                "id": uuid.UUID(int=7),
                "price": decimal.Decimal("10.10"),
                "point": Point(1, datetime.date(2026, 1, 2)),
            }
        )

    assert client.get("/types").json == {
        "at": "2026-01-02T03:04:05",
        "id": "00000000-0000-0000-0000-000000000007",
        "price": "10.10",
        "point": {"x": 1, "when": "2026-01-02"},
    }


def test_json_of_unknown_type_is_a_500(api: Api, client: TestClient) -> None:
    @api.route("/bad")
    def bad(req: Request, res: Res) -> None:
        res.json({"value": object()})

    response = client.get("/bad")
    assert response.status_code == 500
    assert response.content_type == "application/problem+json"
    assert "object" not in response.get_data(as_text=True)  # no internals leak


@pytest.mark.parametrize(
    ("body", "content_type", "data"),
    [
        ("héllo", "text/plain; charset=utf-8", "héllo".encode()),
        (b"\x00\x01", "application/octet-stream", b"\x00\x01"),
        ({"a": 1}, "application/json", b'{"a":1}'),
        ([1, 2], "application/json", b"[1,2]"),
    ],
)
def test_send_picks_the_content_type(
    api: Api, client: TestClient, body: Any, content_type: str, data: bytes
) -> None:
    @api.route("/send")
    def send(req: Request, res: Res) -> None:
        res.send(body)

    response = client.get("/send")
    assert response.headers["Content-Type"] == content_type
    assert response.data == data


def test_send_keeps_a_content_type_that_was_set(api: Api, client: TestClient) -> None:
    @api.route("/html")
    def html(req: Request, res: Res) -> None:
        res.set_header("Content-Type", "text/html; charset=utf-8").send("<p>hi</p>")

    response = client.get("/html")
    assert response.headers.getlist("Content-Type") == ["text/html; charset=utf-8"]
    assert response.data == b"<p>hi</p>"


def test_send_refuses_other_types(api: Api, client: TestClient) -> None:
    seen: list[bool] = []

    @api.route("/int")
    def send_int(req: Request, res: Res) -> None:
        with pytest.raises(TypeError, match="not int"):
            res.send(42)
        seen.append(res.sent)
        res.send("fine")

    assert client.get("/int").data == b"fine"
    assert seen == [False]


def test_sending_twice_raises_a_clear_error(api: Api, client: TestClient) -> None:
    messages: list[str] = []

    @api.route("/twice")
    def twice(req: Request, res: Res) -> None:
        res.json({"first": True})
        try:
            res.send("second")
        except RuntimeError as exc:
            messages.append(str(exc))

    response = client.get("/twice")
    assert response.json == {"first": True}
    assert messages == [
        "res.send() called after the response was already sent with res.json(); "
        "a request gets one response"
    ]


def test_returning_the_builder_is_not_a_second_send(api: Api, client: TestClient) -> None:
    @api.route("/created", methods=["POST"])
    def created(req: Request, res: Res) -> Res:
        return res.status(201).json({"id": 1})

    response = client.post("/created")
    assert (response.status_code, response.json) == (201, {"id": 1})


def test_returning_the_builder_unsent_is_a_500(api: Api, client: TestClient) -> None:
    @api.route("/unsent")
    def unsent(req: Request, res: Res) -> Res:
        return res.status(201)

    assert client.get("/unsent").status_code == 500


@pytest.mark.parametrize(
    ("value", "status", "content_type", "data", "header"),
    [
        ({"a": 1}, 200, "application/json", b'{"a":1}', None),
        ([1], 200, "application/json", b"[1]", None),
        ("text", 200, "text/plain; charset=utf-8", b"text", None),
        (b"raw", 200, "application/octet-stream", b"raw", None),
        (({"id": 1}, 201), 201, "application/json", b'{"id":1}', None),
        (("gone", 410, {"X-Why": "old"}), 410, "text/plain; charset=utf-8", b"gone", "old"),
        (("gone", 410, [("X-Why", "list")]), 410, "text/plain; charset=utf-8", b"gone", "list"),
        (WerkzeugResponse("wz", status=202), 202, "text/plain; charset=utf-8", b"wz", None),
    ],
)
def test_return_values(
    api: Api,
    client: TestClient,
    value: Any,
    status: int,
    content_type: str,
    data: bytes,
    header: str | None,
) -> None:
    @api.route("/value")
    def handler(req: Request, res: Res) -> Any:
        return value

    response = client.get("/value")
    assert response.status_code == status
    assert response.headers["Content-Type"] == content_type
    assert response.data == data
    assert response.headers.get("X-Why") == header


def test_unsupported_return_value_is_a_500_naming_the_handler(
    api: Api, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    @api.route("/number")
    def number(req: Request, res: Res) -> int:
        return 42

    assert client.get("/number").status_code == 500
    assert "test_unsupported_return_value_is_a_500_naming_the_handler.<locals>.number" in (
        caplog.text
    )
    assert "returned int" in caplog.text


def test_handler_sending_nothing_is_a_500_naming_it(
    api: Api, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    @api.route("/silent")
    def silent(req: Request, res: Res) -> None:
        res.status(200)

    response = client.get("/silent")
    assert response.status_code == 500
    assert "silent returned without sending a response" in caplog.text
    assert caplog.records[0].name == "microapi.error"


def test_middleware_headers_survive_a_returned_werkzeug_response(
    api: Api, client: TestClient
) -> None:
    @api.middleware
    def tag(req: Request, res: Res, next: Any) -> None:
        res.set_header("X-Tag", "mw")
        res.cookie("a", "1")
        next()

    @api.route("/wz")
    def handler(req: Request, res: Res) -> WerkzeugResponse:
        response = WerkzeugResponse("ok", headers={"X-Tag": "own"})
        response.set_cookie("b", "2")
        return response

    response = client.get("/wz")
    assert response.headers["X-Tag"] == "own"
    assert len(response.headers.getlist("Set-Cookie")) == 2


def test_redirect_defaults_to_307(api: Api, client: TestClient) -> None:
    @api.route("/old")
    def old(req: Request, res: Res) -> None:
        res.redirect("/new")

    @api.route("/moved")
    def moved(req: Request, res: Res) -> None:
        res.redirect(308, "/naïve path")

    response = client.get("/old")
    assert (response.status_code, response.headers["Location"]) == (307, "/new")
    response = client.get("/moved")
    assert (response.status_code, response.headers["Location"]) == (308, "/na%C3%AFve%20path")


@pytest.mark.parametrize("args", [(200, "/x"), (309, "/x"), ("/x", "/y")])
def test_redirect_refuses_bad_status(api: Api, client: TestClient, args: tuple[Any, Any]) -> None:
    errors: list[type[Exception]] = []

    @api.route("/r")
    def handler(req: Request, res: Res) -> None:
        try:
            res.redirect(*args)
        except (ValueError, TypeError) as exc:
            errors.append(type(exc))
        res.end()

    client.get("/r")
    assert len(errors) == 1


def test_headers_set_append_get_and_view(api: Api, client: TestClient) -> None:
    @api.route("/h")
    def handler(req: Request, res: Res) -> None:
        res.set_header("X-One", "a").set_header("x-one", "b")
        res.append_header("Vary", "Origin").append_header("Vary", "Cookie")
        res.headers["X-View"] = "v"
        res.set_header("X-Num", 5)
        assert res.get_header("X-ONE") == "b"
        assert res.get_header("missing", "default") == "default"
        assert res.headers.get("X-Num") == "5"
        res.json({})

    response = client.get("/h")
    assert response.headers.getlist("X-One") == ["b"]
    assert response.headers.getlist("Vary") == ["Origin", "Cookie"]
    assert response.headers["X-View"] == "v"


@pytest.mark.parametrize(
    ("name", "value"), [("X-Bad", "a\r\nSet-Cookie: x=1"), ("Bad Name", "v"), ("X", "a\nb")]
)
def test_header_injection_is_refused(name: str, value: str, api: Api, client: TestClient) -> None:
    @api.route("/inject")
    def handler(req: Request, res: Res) -> None:
        res.set_header(name, value)

    response = client.get("/inject")
    assert response.status_code == 500
    assert "Set-Cookie" not in response.headers


def test_status_rejects_out_of_range(api: Api, client: TestClient) -> None:
    @api.route("/s")
    def handler(req: Request, res: Res) -> None:
        for bad in (99, 600, "200"):
            with pytest.raises(ValueError, match="100 to 599"):
                res.status(bad)  # type: ignore[arg-type]
        res.status(418).end("teapot")

    response = client.get("/s")
    assert (response.status_code, response.data) == (418, b"teapot")
    assert "Content-Type" not in response.headers


def test_cookies_are_safe_by_default(api: Api, client: TestClient) -> None:
    @api.route("/c")
    def handler(req: Request, res: Res) -> None:
        res.cookie("theme", "dark", max_age=60)
        res.cookie("open", "1", httponly=False, samesite=None, path="/x", domain="example.com")
        res.clear_cookie("old")
        res.end()

    cookies = client.get("/c").headers.getlist("Set-Cookie")
    assert cookies[0].startswith("theme=dark; Expires=")
    assert cookies[0].endswith("; Max-Age=60; HttpOnly; Path=/; SameSite=Lax")
    assert "HttpOnly" not in cookies[1]
    assert "SameSite" not in cookies[1]
    assert "Domain=example.com" in cookies[1]
    assert cookies[2].startswith("old=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0")
    secure = client.get("/c", base_url="https://localhost").headers.getlist("Set-Cookie")
    assert all("Secure" in cookie for cookie in secure)


def test_etag_and_304(api: Api, client: TestClient) -> None:
    @api.route("/doc")
    def doc(req: Request, res: Res) -> None:
        res.set_header("Cache-Control", "no-cache").json({"v": 1})

    first = client.get("/doc")
    tag = first.headers["ETag"]
    assert tag.startswith('W/"')
    again = client.get("/doc", headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.data == b""
    assert "Content-Type" not in again.headers
    assert "Content-Length" not in again.headers
    assert again.headers["ETag"] == tag
    assert again.headers["Cache-Control"] == "no-cache"
    assert client.get("/doc", headers={"If-None-Match": f'"x", {tag}'}).status_code == 304
    assert client.get("/doc", headers={"If-None-Match": "*"}).status_code == 304
    assert client.get("/doc", headers={"If-None-Match": '"other"'}).status_code == 200
    assert client.head("/doc", headers={"If-None-Match": tag}).status_code == 304


def test_etag_only_for_200_get_and_head(api: Api, client: TestClient) -> None:
    @api.route("/doc", methods=["GET", "POST"])
    def doc(req: Request, res: Res) -> None:
        res.status(201 if req.args.get("created") else 200).json({"v": 1})

    assert "ETag" not in client.post("/doc").headers
    assert "ETag" not in client.get("/doc?created=1").headers
    assert "ETag" in client.head("/doc").headers


def test_handler_etag_wins_and_is_compared(api: Api, client: TestClient) -> None:
    @api.route("/mine")
    def mine(req: Request, res: Res) -> None:
        res.set_header("ETag", '"v7"').json({"v": 7})

    response = client.get("/mine")
    assert response.headers.getlist("ETag") == ['"v7"']
    assert client.get("/mine", headers={"If-None-Match": '"v7"'}).status_code == 304


def test_etag_can_be_turned_off(client: TestClient) -> None:
    api = Api(etag=False)

    @api.route("/doc")
    def doc(req: Request, res: Res) -> None:
        res.json({"v": 1})

    assert "ETag" not in TestClient(api).get("/doc").headers


def test_head_strips_the_body_and_keeps_the_length(api: Api, client: TestClient) -> None:
    @api.route("/doc")
    def doc(req: Request, res: Res) -> None:
        res.json({"message": "hello"})

    get, head = client.get("/doc"), client.head("/doc")
    assert head.status_code == 200
    assert head.data == b""
    assert head.headers["Content-Length"] == get.headers["Content-Length"]


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses_carry_no_body_or_type(api: Api, client: TestClient, status: int) -> None:
    @api.route("/empty")
    def empty(req: Request, res: Res) -> None:
        res.status(status).set_header("Content-Type", "text/plain").send("ignored")

    response = client.get("/empty")
    assert response.status_code == status
    assert response.data == b""
    assert "Content-Type" not in response.headers
    assert "Content-Length" not in response.headers


def test_stream(api: Api, client: TestClient) -> None:
    closed: list[bool] = []

    class Source:
        def __iter__(self) -> Any:
            yield "a"
            yield b"b"

        def close(self) -> None:
            closed.append(True)

    @api.route("/stream")
    def stream(req: Request, res: Res) -> None:
        res.stream(Source(), content_type="text/event-stream")

    response = client.get("/stream")
    assert response.data == b"ab"
    assert response.headers["Content-Type"] == "text/event-stream"
    assert "ETag" not in response.headers
    assert "Content-Length" not in response.headers
    assert closed == [True]
    head = client.head("/stream")
    assert head.data == b""
    assert closed == [True, True]


def test_file_with_root_is_safe(api: Api, client: TestClient, tmp_path: Path) -> None:
    (tmp_path / "public").mkdir()
    (tmp_path / "public" / "a.txt").write_text("public")
    (tmp_path / "secret.txt").write_text("secret")

    @api.route("/files/[...name]")
    def files(req: Request, res: Res) -> None:
        res.file("/".join(req.params["name"]), root=tmp_path / "public")

    response = client.get("/files/a.txt")
    assert (response.status_code, response.data) == (200, b"public")
    assert response.headers["Content-Type"].startswith("text/plain")
    assert "ETag" in response.headers
    assert (
        client.get("/files/a.txt", headers={"If-None-Match": response.headers["ETag"]}).status_code
        == 304
    )
    assert client.get("/files/a.txt", headers={"Range": "bytes=0-1"}).data == b"pu"
    for escape in ("/files/../secret.txt", "/files/%2e%2e/secret.txt", "/files/nope.txt"):
        escaped = client.get(escape)
        assert escaped.status_code == 404, escape
        assert b"secret" not in escaped.data


@pytest.mark.parametrize("follow_symlink", [False, True])
def test_file_with_root_refuses_symlinks_leading_outside(
    api: Api, client: TestClient, tmp_path: Path, follow_symlink: bool
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    public = tmp_path / "public"
    (public / "sub").mkdir(parents=True)
    (public / "a.txt").write_text("public")
    (public / "leak.txt").symlink_to(outside / "secret.txt")
    (public / "leakdir").symlink_to(outside)
    (public / "sub" / "alias.txt").symlink_to(public / "a.txt")  # stays inside
    linked_root = tmp_path / "linked"
    linked_root.symlink_to(public)

    @api.route("/files/[...name]")
    def files(req: Request, res: Res) -> None:
        root = linked_root if req.args.get("linked") else public
        res.file("/".join(req.params["name"]), root=root, follow_symlink=follow_symlink)

    for path in ("/files/leak.txt", "/files/leakdir/secret.txt"):
        response = client.get(path)
        if follow_symlink:
            assert (response.status_code, response.data) == (200, b"secret"), path
        else:
            assert_problem(response, 404)
            assert b"secret" not in response.data
    assert client.get("/files/sub/alias.txt").data == b"public"
    assert client.get("/files/a.txt?linked=1").data == b"public"
    assert client.get("/files/sub/alias.txt?linked=1").data == b"public"
    assert client.get("/files/../outside/secret.txt").status_code == 404


def test_file_from_path_and_file_object(api: Api, client: TestClient, tmp_path: Path) -> None:
    report = tmp_path / "report.csv"
    report.write_text("a,b\n")

    @api.route("/report")
    def by_path(req: Request, res: Res) -> None:
        res.file(report, as_attachment=True)

    @api.route("/object")
    def by_object(req: Request, res: Res) -> None:
        res.file(report.open("rb"), mimetype="text/csv", download_name="r.csv")

    response = client.get("/report")
    assert response.data == b"a,b\n"
    assert response.headers["Content-Disposition"] == "attachment; filename=report.csv"
    response = client.get("/object")
    assert (response.data, response.mimetype) == (b"a,b\n", "text/csv")


def test_file_object_with_root_is_a_type_error(
    api: Api, client: TestClient, tmp_path: Path
) -> None:
    @api.route("/f")
    def handler(req: Request, res: Res) -> None:
        with (tmp_path / "x").open("wb+") as fileobj, pytest.raises(TypeError, match="path"):
            res.file(fileobj, root=tmp_path)
        res.end()

    assert client.get("/f").status_code == 200


def test_status_code_and_sent_are_readable(api: Api, client: TestClient) -> None:
    seen: list[tuple[int, bool]] = []

    @api.middleware
    def observe(req: Request, res: Res, next: Any) -> None:
        seen.append((res.status_code, res.sent))
        next()
        seen.append((res.status_code, res.sent))

    @api.route("/x")
    def handler(req: Request, res: Res) -> None:
        res.status(202).end()

    client.get("/x")
    assert seen == [(200, False), (202, True)]


def test_a_failed_json_leaves_nothing_sent(api: Api, client: TestClient) -> None:
    @api.middleware
    def fallback(req: Request, res: Res, next: Any) -> None:
        try:
            next()
        except TypeError:
            res.status(422).json({"error": "unencodable"})

    @api.route("/x")
    def handler(req: Request, res: Res) -> None:
        res.json({"value": object()})

    assert client.get("/x").json == {"error": "unencodable"}


def test_file_is_closed_when_an_error_follows(api: Api, client: TestClient, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")

    @api.route("/x")
    def handler(req: Request, res: Res) -> None:
        res.file("a.txt", root=tmp_path)
        raise HTTPError(409)

    @api.route("/twice")
    def twice(req: Request, res: Res) -> None:
        res.end()
        res.file("a.txt", root=tmp_path)

    assert client.get("/x").status_code == 409
    assert client.get("/twice").status_code == 500
    gc.collect()  # an unclosed file would warn here (filterwarnings = error)


def test_cookie_injection_is_refused(api: Api, client: TestClient) -> None:
    @api.route("/c")
    def handler(req: Request, res: Res) -> None:
        res.cookie(req.args["name"], "v")
        res.end()

    response = client.get("/c", query_string={"name": "a\r\nX-Evil: 1"})
    assert response.status_code == 500
    assert "X-Evil" not in response.headers
    assert response.content_type == "application/problem+json"


@pytest.mark.parametrize(
    "options",
    [
        {"name": "sid; Domain=evil.example"},
        {"name": "a=b"},
        {"name": "my sid"},
        {"name": ""},
        {"name": '"sid"'},
        {"name": "sid\x01"},
        {"domain": "example.com; SameSite=None"},
        {"domain": "example.com\x0b"},
        {"path": "/; Domain=evil.example"},
        {"path": "/\x7f"},
        {"expires": "Thu, 01 Jan 2099 00:00:00 GMT; Secure"},
    ],
)
def test_cookie_names_and_attributes_that_inject_are_refused(
    api: Api, client: TestClient, options: dict[str, str]
) -> None:
    @api.route("/c")
    def handler(req: Request, res: Res) -> None:
        name = options.get("name", "sid")
        attributes = {key: value for key, value in options.items() if key != "name"}
        with pytest.raises(ValueError, match="cookie"):
            res.cookie(name, "v", **attributes)  # type: ignore[arg-type]
        res.cookie("ok", "v", domain="example.com", path="/a b", expires=0)
        res.end()

    response = client.get("/c")
    assert response.status_code == 200
    [cookie] = response.headers.getlist("Set-Cookie")
    assert cookie.startswith("ok=v; Domain=example.com; Expires=")
    assert "Path=/a%20b" in cookie


def test_returned_response_with_a_status(api: Api, client: TestClient) -> None:
    @api.route("/x")
    def handler(req: Request, res: Res) -> Any:
        return WerkzeugResponse("made"), 201, {"X-A": "1"}

    response = client.get("/x")
    assert (response.status_code, response.data, response.headers["X-A"]) == (201, b"made", "1")


@pytest.mark.parametrize("body", [b"bytes", "text"])
def test_stream_refuses_a_single_body(api: Api, client: TestClient, body: Any) -> None:
    @api.route("/s")
    def handler(req: Request, res: Res) -> None:
        with pytest.raises(TypeError, match=r"use res\.send\(\)"):
            res.stream(body)
        res.end()

    assert client.get("/s").status_code == 200


def test_coroutine_behind_a_sync_wrapper_is_named(
    api: Api, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    async def handler(req: Request, res: Res) -> None:
        res.end()

    def wrapper(req: Request, res: Res) -> Any:
        return handler(req, res)

    api.add_route("/x", wrapper)
    assert client.get("/x").status_code == 500
    assert "returned a coroutine" in caplog.text


def test_injection_is_refused_for_a_header_name_already_used(api: Api, client: TestClient) -> None:
    # Names that passed once skip the name check; values are always checked.
    @api.route("/twice")
    def handler(req: Request, res: Res) -> None:
        res.set_header("X-Twice", "fine")
        for bad in ("a\r\nSet-Cookie: x=1", "a\nb", "a\0b"):
            with pytest.raises(ValueError, match="must not contain newlines"):
                res.set_header("X-Twice", bad)
            with pytest.raises(ValueError, match="must not contain newlines"):
                res.append_header("X-Twice", bad)
        res.json({})

    response = client.get("/twice")
    assert response.headers.getlist("X-Twice") == ["fine"]
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize(
    "value", ["a\x01b", "a\x0bb", "a\x0cb", "\x1b[31m", "a\x7f", "5 €", "\ud800"]
)
@pytest.mark.parametrize("method", ["set_header", "append_header"])
def test_header_values_rfc_9110_forbids_are_refused(
    api: Api, client: TestClient, method: str, value: str
) -> None:
    @api.route("/h")
    def handler(req: Request, res: Res) -> None:
        res.set_header("X-Used", "fine")  # a name already checked skips to the value
        for name in ("X-Used", "X-New"):
            with pytest.raises(ValueError, match="must not contain"):
                getattr(res, method)(name, value)
        res.json({})

    response = client.get("/h")
    assert response.status_code == 200
    assert response.headers.getlist("X-Used") == ["fine"]
    assert "X-New" not in response.headers


#: Every way werkzeug's ``Headers`` view writes a value.
VIEW_WRITES = {
    "item": lambda headers, value: headers.__setitem__("X-New", value),
    "add": lambda headers, value: headers.add("X-New", value),
    "set": lambda headers, value: headers.set("X-Used", value),
    "setdefault": lambda headers, value: headers.setdefault("X-New", value),
    "setlist": lambda headers, value: headers.setlist("X-New", [value]),
    "extend": lambda headers, value: headers.extend([("X-New", value)]),
    "update": lambda headers, value: headers.update({"X-Used": value}),
    "index": lambda headers, value: headers.__setitem__(0, ("X-Used", value)),
    "slice": lambda headers, value: headers.__setitem__(slice(0, 1), [("X-Used", value)]),
    "bad name": lambda headers, value: headers.__setitem__("Bad Name", "v"),
    # Not werkzeug's: what the view has as the builder's header store.
    "append": lambda headers, value: headers.append(("X-New", value)),
}


@pytest.mark.parametrize("value", ["a\x01b", "\x1b[31m", "a\x7f", "5 €"])
@pytest.mark.parametrize("write", list(VIEW_WRITES))
def test_the_headers_view_refuses_what_set_header_refuses(
    api: Api, client: TestClient, write: str, value: str
) -> None:
    @api.route("/h")
    def handler(req: Request, res: Res) -> None:
        res.set_header("X-Used", "fine")
        with pytest.raises(ValueError, match="header"):
            VIEW_WRITES[write](res.headers, value)
        res.headers["X-View"] = "still fine"  # the view works for valid values
        res.set_header("X-After", "set_header too")
        res.json({})

    response = client.get("/h")
    assert response.status_code == 200
    assert response.headers.getlist("X-Used") == ["fine"]
    assert "X-New" not in response.headers
    assert (response.headers["X-View"], response.headers["X-After"]) == (
        "still fine",
        "set_header too",
    )


def test_the_headers_view_is_the_list_middleware_holds(api: Api, client: TestClient) -> None:
    # cors puts its Vary back after next() when a handler replaced Vary:
    # through the view too, which the handler's read made the header store.
    api.middleware(cors(["https://app.example"]))

    @api.route("/h")
    def handler(req: Request, res: Res) -> None:
        res.headers["Vary"] = "Accept"
        res.headers.add("Content-Disposition", "attachment", filename="a b.txt")
        res.json({})

    response = client.get("/h", headers={"Origin": "https://app.example"})
    assert response.headers.getlist("Vary") == ["Accept", "Origin"]
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert response.headers["Content-Disposition"] == 'attachment; filename="a b.txt"'


def test_the_headers_view_shows_headers_set_after_it_was_read(api: Api, client: TestClient) -> None:
    seen: dict[str, Any] = {}

    @api.route("/h")
    def handler(req: Request, res: Res) -> None:
        view = res.headers
        res.set_header("X-Set", "1").append_header("X-Added", "2").cookie("c", "v")
        seen["set"], seen["added"] = view.get("X-Set"), view.getlist("X-Added")
        seen["cookie"] = view.get("Set-Cookie", "")
        view["X-Twice"] = "view"
        res.set_header("x-twice", "set_header")  # replaces what the view set
        seen["twice"] = view.getlist("X-Twice")
        seen["same"] = res.headers is view
        res.json({})

    response = client.get("/h")
    assert response.status_code == 200
    assert seen.pop("cookie").startswith("c=v;")
    assert seen == {"set": "1", "added": ["2"], "twice": ["set_header"], "same": True}
    assert (response.headers["X-Set"], response.headers["X-Twice"]) == ("1", "set_header")


def _validated_call(
    api: Api, path: str, headers: dict[str, str] | None = None
) -> tuple[str, list[tuple[str, str]], bytes]:
    """Call *api* through wsgiref's PEP 3333 validator (headers a real list)."""
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(
        status: str, response_headers: list[tuple[str, str]], exc_info: Any = None, /
    ) -> Callable[[bytes], object]:
        started.append((status, response_headers))
        return lambda data: None

    environ = create_environ(path, headers=headers)
    iterable = validator(api)(environ, start_response)
    try:
        body = b"".join(iterable)
    finally:
        iterable.close()  # type: ignore[attr-defined]
    [(status, sent)] = started  # called once
    return status, sent, body


#: How a handler that wrote through the view sends its body: one per way
#: emission hands the headers to the server.
VIEW_BODIES: dict[str, Callable[[Res], Any]] = {
    "json": lambda res: res.json({"ok": True}),
    "204": lambda res: res.status(204).end(),
    "stream": lambda res: res.stream(iter([b"chunk"])),
    "werkzeug Response": lambda res: WerkzeugResponse("ok"),
}


@pytest.mark.parametrize("body", list(VIEW_BODIES))
def test_headers_written_through_the_view_are_sent(api: Api, body: str) -> None:
    @api.route("/h")
    def handler(req: Request, res: Res) -> Any:
        res.set_header("X-Before", "b")  # the view starts from what is there
        view = res.headers
        view["X-Item"] = "1"
        view.add("X-Add", "2")
        view.extend({"X-Extend": "3"})
        view.setdefault("X-Before", "not this")
        view["X-Gone"] = "x"
        del view["X-Gone"]
        return VIEW_BODIES[body](res)

    _, sent, _ = _validated_call(api, "/h")
    assert [(name, value) for name, value in sent if name.startswith("X-")] == [
        ("X-Before", "b"),
        ("X-Item", "1"),
        ("X-Add", "2"),
        ("X-Extend", "3"),
    ]


def test_a_view_written_before_a_304_keeps_its_headers(api: Api) -> None:
    @api.route("/h")
    def handler(req: Request, res: Res) -> None:
        res.headers["X-View"] = "v"
        res.json({"same": "body"})

    _, sent, _ = _validated_call(api, "/h")
    status, cached, body = _validated_call(api, "/h", {"If-None-Match": dict(sent)["ETag"]})
    assert (status, body) == ("304 Not Modified", b"")
    assert ("X-View", "v") in cached


def test_middleware_headers_after_the_view_was_read_are_sent(api: Api) -> None:
    # The bundled middleware write to the builder's header store directly;
    # once a middleware or handler read res.headers, that store is the view.
    seen: dict[str, list[str]] = {}

    @api.middleware
    def reads_the_view_first(req: Request, res: Res, next: Any) -> None:
        if req.path == "/outer":
            view = res.headers
            view["Referrer-Policy"] = "origin"  # security_headers keeps it
            next()
            seen["after next()"] = sorted(view.keys())
        else:
            next()

    api.middleware(request_id())
    api.middleware(security_headers())
    api.middleware(rate_limit("100/minute", store=MemoryStore()))
    api.middleware(rate_limit("5/minute", store=MemoryStore()))  # the stricter: kept
    api.middleware(cors(["https://app.example"]))

    @api.route("/outer", name="outer")
    @api.route("/inner", name="inner")
    def handler(req: Request, res: Res) -> None:
        res.headers["Vary"] = "Accept"
        res.json({})

    for path, remaining in (("/outer", "4"), ("/inner", "3")):
        _, sent, _ = _validated_call(api, path, {"Origin": "https://app.example"})
        headers = Headers(sent)
        assert headers.getlist("Vary") == ["Accept", "Origin"], path
        assert headers["Access-Control-Allow-Origin"] == "https://app.example"
        assert headers.getlist("RateLimit-Remaining") == [remaining]
        assert headers["Content-Security-Policy"]
        assert len(headers["X-Request-ID"]) == 32
        policy = headers.getlist("Referrer-Policy")
        assert policy == (["origin"] if path == "/outer" else ["no-referrer"])
    assert {"Access-Control-Allow-Origin", "X-Request-ID", "RateLimit-Remaining"} <= set(
        seen["after next()"]
    )


@pytest.mark.parametrize(
    ("exc", "status"), [(HTTPError(409, "conflict"), 409), (RuntimeError("bug"), 500)]
)
def test_an_error_after_the_view_was_written_drops_its_body_headers(
    api: Api, client: TestClient, exc: Exception, status: int
) -> None:
    @api.route("/h")
    def handler(req: Request, res: Res) -> None:
        view = res.headers
        view["Content-Type"] = "text/csv"
        view.add("Content-Disposition", "attachment", filename="a.csv")
        view["ETag"] = '"v1"'
        view["Location"] = "/elsewhere"
        view["X-Keep"] = "kept"
        res.send("a,b")
        raise exc

    response = client.get("/h")
    assert_problem(response, status)
    assert response.headers["X-Keep"] == "kept"
    for name in ("Content-Disposition", "ETag", "Location"):
        assert name not in response.headers
    assert response.headers["Content-Length"] == str(len(response.data))


def test_a_stream_content_type_rfc_9110_forbids_is_refused(api: Api, client: TestClient) -> None:
    @api.route("/s")
    def handler(req: Request, res: Res) -> None:
        with pytest.raises(ValueError, match="must not contain"):
            res.stream(iter([b"x"]), content_type="text/html\x01")
        res.stream(iter([b"x"]), content_type="text/plain")  # nothing was sent

    response = client.get("/s")
    assert (response.status_code, response.data) == (200, b"x")


@pytest.mark.parametrize("value", ["a\tb", "caf\xe9", "\x80\xff", "", " spaced ", "~!#"])
@pytest.mark.parametrize("method", ["set_header", "append_header"])
def test_header_values_with_tab_and_obs_text_are_allowed(
    api: Api, client: TestClient, method: str, value: str
) -> None:
    @api.route("/h")
    def handler(req: Request, res: Res) -> None:
        getattr(res, method)("X-Ok", value)
        res.json({})

    response = client.get("/h")
    assert response.status_code == 200
    assert response.headers["X-Ok"] == value


def test_header_name_cache_is_bounded_and_still_checks(api: Api, client: TestClient) -> None:
    from microapi import response as module

    @api.route("/many")
    def handler(req: Request, res: Res) -> None:
        for index in range(module._MAX_CHECKED_NAMES + 200):
            res.set_header(f"X-Name-{index}", "v")
        with pytest.raises(ValueError, match="invalid header name"):
            res.set_header("Bad Name", "v")
        res.json({})

    response = client.get("/many")
    assert response.status_code == 200
    assert response.headers["X-Name-1100"] == "v"
    assert len(module._CHECKED_NAMES) <= module._MAX_CHECKED_NAMES


def test_304_keeps_the_other_headers(api: Api, client: TestClient) -> None:
    @api.route("/cached")
    def handler(req: Request, res: Res) -> None:
        res.set_header("Vary", "Origin").set_header("Cache-Control", "no-cache").json({"a": 1})

    first = client.get("/cached")
    tag = first.headers["ETag"]
    second = client.get("/cached", headers={"If-None-Match": tag})
    assert second.status_code == 304
    assert second.data == b""
    assert second.headers["ETag"] == tag
    assert (second.headers["Vary"], second.headers["Cache-Control"]) == ("Origin", "no-cache")
    assert "Content-Type" not in second.headers


def test_etag_differs_with_the_body(api: Api, client: TestClient) -> None:
    bodies = iter([{"a": 1}, {"a": 2}, {"a": 1}])

    @api.route("/changing")
    def handler(req: Request, res: Res) -> None:
        res.json(next(bodies))

    tags = [client.get("/changing").headers["ETag"] for _ in range(3)]
    assert tags[0] != tags[1]
    assert tags[0] == tags[2]


def test_json_twice_raises_a_clear_error(api: Api, client: TestClient) -> None:
    @api.route("/twice")
    def handler(req: Request, res: Res) -> None:
        res.json({"a": 1})
        with pytest.raises(RuntimeError, match=r"res.json\(\) called after .* res.json\(\)"):
            res.json({"a": 2})

    assert client.get("/twice").json == {"a": 1}


def test_a_stream_is_closed_when_middleware_fails_after_it(api: Api, client: TestClient) -> None:
    closed: list[bool] = []

    def chunks() -> Any:
        try:
            yield b"never sent"
        finally:
            closed.append(True)

    @api.middleware
    def failing(req: Request, res: Res, next: Any) -> None:
        next()
        raise HTTPError(409, "changed my mind")

    @api.route("/stream")
    def handler(req: Request, res: Res) -> None:
        generator = chunks()
        next(generator)  # started: closing it runs its finally
        res.stream(generator)

    response = client.get("/stream")
    assert response.status_code == 409
    assert response.json["detail"] == "changed my mind"
    assert closed == [True]


# -- framing by the method as sent; Vary merged (review fixes) --------------------------


def _head_api(tmp_path: Path) -> Api:
    api = Api()
    (tmp_path / "f.txt").write_bytes(b"file body")

    @api.route("/json")
    def as_json(req: Request, res: Res) -> None:
        res.json({"a": 1})

    @api.route("/typed")
    def typed(req: Request, res: Res) -> None:
        res.set_header("Content-Type", "text/html; charset=utf-8").send("<p>hi</p>")

    @api.route("/stream")
    def streamed(req: Request, res: Res) -> None:
        res.stream([b"a", "b"], content_type="text/plain")

    @api.route("/file")
    def a_file(req: Request, res: Res) -> None:
        res.file("f.txt", root=tmp_path)

    @api.route("/returned")
    def returned(req: Request, res: Res) -> WerkzeugResponse:
        return WerkzeugResponse("werkzeug body")

    @api.route("/boom")
    def boom(req: Request, res: Res) -> None:
        raise HTTPError(409, "conflict")

    return api


@pytest.mark.parametrize(
    "path", ["/json", "/typed", "/stream", "/file", "/returned", "/boom", "/missing"]
)
@pytest.mark.parametrize("method", ["head", "Head", "hEAD"])
def test_a_head_not_spelled_head_gets_the_body_its_length_announces(
    tmp_path: Path, path: str, method: str
) -> None:
    # Routed as HEAD (werkzeug uppercases the method), but servers frame the
    # answer by the method as sent: like werkzeug, only "HEAD" drops the body.
    api = _head_api(tmp_path)
    got = raw_call(api, "GET", path)
    status, headers, body = raw_call(api, method, path)
    assert status == got[0]
    assert body == got[2] != b""
    if "Content-Length" in headers:
        assert int(headers["Content-Length"]) == len(body)
    status, headers, body = raw_call(api, "HEAD", path)
    assert (status, body) == (got[0], b"")
    assert headers.get("Content-Length") == got[1].get("Content-Length")


@pytest.mark.parametrize(
    ("own", "set_on_res", "vary"),
    [
        ("Accept-Encoding", ["Origin"], "Accept-Encoding, Origin"),
        ("Accept-Encoding, origin", ["Origin", "Cookie"], "Accept-Encoding, origin, Cookie"),
        ("*", ["Origin"], "*"),
        ("Accept", ["*"], "*"),
    ],
)
def test_vary_set_on_res_merges_with_a_returned_responses_vary(
    own: str, set_on_res: list[str], vary: str
) -> None:
    api = Api()

    @api.middleware
    def varies(req: Request, res: Res, next: Any) -> None:
        for field in set_on_res:
            res.append_header("Vary", field)
        res.set_header("X-Tag", "mw")
        next()

    @api.route("/r")
    def returned(req: Request, res: Res) -> WerkzeugResponse:
        response = WerkzeugResponse("ok", headers={"Vary": own, "X-Tag": "own"})
        response.set_cookie("a", "1")
        res.cookie("b", "2")
        return response

    response = TestClient(api).get("/r")
    assert response.headers.getlist("Vary") == [vary]
    assert response.headers["X-Tag"] == "own"  # other headers: the Response's own wins
    assert len(response.headers.getlist("Set-Cookie")) == 2
