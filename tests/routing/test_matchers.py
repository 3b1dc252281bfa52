"""Next.js middleware matchers: ``match="/api/:path*"`` and friends."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microapi import Api, Router
from microapi.routing.matchers import Matcher, compile_matcher, join_paths
from microapi.testing import TestClient


def matcher(match: Any) -> Matcher:
    compiled = compile_matcher(match)
    assert compiled is not None
    return compiled


@pytest.mark.parametrize(
    ("pattern", "matching", "other"),
    [
        # Literal paths match themselves only; regex characters are literal.
        ("/about", ["/about"], ["/", "/about/x", "/aboutx", "/abou", "/About"]),
        ("/robots.txt", ["/robots.txt"], ["/robotsxtxt", "/robots.txt.bak"]),
        ("/a.b/[x]", ["/a.b/[x]"], ["/aab/[x]", "/a.b/x"]),
        # :name is exactly one non-empty segment.
        ("/users/:id", ["/users/1", "/users/a.b"], ["/users", "/users/1/2", "/usersx/1"]),
        ("/users/:id/posts", ["/users/1/posts"], ["/users/posts", "/users/1/2/posts"]),
        ("/files/:name.json", ["/files/a.json", "/files/a.b.json"], ["/files/.json", "/files/a"]),
        # :name? is zero or one segment, the slash before it included.
        ("/users/:id?", ["/users", "/users/1"], ["/users/1/2", "/usersx"]),
        ("/a/:b?/c", ["/a/c", "/a/x/c"], ["/a/x/y/c", "/ac"]),
        # :name* is zero or more segments; :name+ one or more.
        ("/api/:path*", ["/api", "/api/a", "/api/a/b/c"], ["/apix", "/apix/a", "/ap", "/x/api"]),
        ("/api/:path+", ["/api/a", "/api/a/b/c"], ["/api", "/apix/a"]),
        ("/:path*", ["/a", "/a/b"], ["/"]),
        # :name(regex) and bare (regex) groups.
        ("/users/:id(\\d+)", ["/users/42"], ["/users/abc", "/users/4a", "/users/"]),
        ("/v:major(\\d+)/items", ["/v1/items", "/v22/items"], ["/vx/items", "/v/items"]),
        ("/docs/:rest(.*)", ["/docs/", "/docs/a/b"], ["/docs", "/doc/a"]),
        ("/((?!api|_next).*)", ["/", "/about", "/x/api"], ["/api", "/api/x", "/_next/a"]),
        ("/(a|b)/x", ["/a/x", "/b/x"], ["/c/x", "/ab/x"]),
        ("/x/(a\\)b)", ["/x/a)b"], ["/x/ab", "/x/a"]),
        ("/:lang(en|fr)?/about", ["/about", "/en/about", "/fr/about"], ["/de/about"]),
        ("/(\\d+)(/x)?", ["/1", "/12/x"], ["/a", "/1/y"]),
        # A colon that does not start a name is a literal colon.
        ("/time/12:30", ["/time/12:30"], ["/time/12"]),
        ("/a/:", ["/a/:"], ["/a/x"]),
        # A backslash escapes the next character.
        ("/c\\+\\+", ["/c++"], ["/c", "/cc"]),
        ("/what\\?", ["/what?"], ["/wha", "/what"]),
        ("/literal\\:id", ["/literal:id"], ["/literal1"]),
        ("/\\(x\\)", ["/(x)"], ["/x"]),
    ],
)
def test_matcher_semantics(pattern: str, matching: list[str], other: list[str]) -> None:
    compiled = matcher(pattern)
    for path in matching:
        assert compiled(path), (pattern, path)
    for path in other:
        assert not compiled(path), (pattern, path)


@pytest.mark.parametrize(
    ("pattern", "path"),
    [("/about", "/about/"), ("/api/:path*", "/api/"), ("/api/:path*", "/api/a/b/")],
)
def test_one_trailing_slash_is_ignored(pattern: str, path: str) -> None:
    # Next.js matches after the trailing slash is stripped; a route declared
    # with a slash must not slip past a matcher written without one.
    assert matcher(pattern)(path)
    assert not matcher(pattern)(path + "/")


def test_list_matches_any_of_its_patterns() -> None:
    compiled = matcher(["/a", "/b/:id", re.compile(r"/c\d")])
    assert compiled("/a")
    assert compiled("/b/1")
    assert compiled("/c7")
    assert not compiled("/b")
    assert not compiled("/c")
    assert not compiled("/ab/1")
    assert compiled.sources == ("/a", "/b/:id", compiled.sources[2])


def test_tuple_and_generator_are_lists_too() -> None:
    assert matcher(("/a", "/b"))("/b")
    assert matcher(p for p in ["/a", "/b"])("/a")


def test_compiled_pattern_must_match_the_whole_path() -> None:
    compiled = matcher(re.compile(r"/admin"))
    assert compiled("/admin")
    assert not compiled("/admin/x")
    assert not compiled("/x/admin")


def test_compiled_pattern_keeps_its_flags() -> None:
    assert matcher(re.compile(r"/admin(/.*)?", re.IGNORECASE))("/ADMIN/users")
    assert matcher(re.compile(r"/a.b", re.DOTALL))("/a\nb")
    assert not matcher(re.compile(r"/a.b"))("/a\nb")
    # Inline global flags work in a list (joined, they would be misplaced).
    inline = matcher(["/x", re.compile(r"(?i)/admin"), re.compile(r"(?s)(?i)/a.b")])
    assert inline("/ADMIN")
    assert inline("/A\nB")
    assert inline("/x")
    assert not inline("/X")
    # A verbose pattern's trailing comment does not swallow the others.
    verbose = matcher([re.compile(r"/v  # the v", re.VERBOSE), "/w"])
    assert verbose("/v")
    assert verbose("/w")
    assert not verbose("/x")


def test_alternatives_in_one_pattern_stay_anchored() -> None:
    # "|" inside a pattern must not escape the whole-path anchoring.
    compiled = matcher(["/(a|b)", re.compile("/c|/d")])
    assert compiled("/a")
    assert compiled("/d")
    assert not compiled("/a/x")
    assert not compiled("/x/d")
    assert not compiled("/c/x")


def test_none_means_every_path() -> None:
    assert compile_matcher(None) is None


@pytest.mark.parametrize(
    ("match", "message"),
    [
        ("api/:path*", "must start with '/'"),
        ("", "must start with '/'"),
        ("/a/(b", "unbalanced parenthesis"),
        ("/a/:id(\\d+", "unbalanced parenthesis"),
        ("/a/(b))", "unbalanced parenthesis"),
        ("/a)", "unbalanced parenthesis"),
        ("/a/([)", "/a/"),
        ("/a/:id(?P<x)", "/a/"),
        ("/admin/*", "must follow a parameter"),
        ("/a/+", "must follow a parameter"),
        ("/a?", "must follow a parameter"),
        ("/a/:id**", "must follow a parameter"),
        ("/a\\", "nothing to escape"),
        (["/ok", "/bad/("], "unbalanced parenthesis"),
    ],
)
def test_bad_patterns_are_value_errors(match: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        compile_matcher(match)


@pytest.mark.parametrize("match", [42, b"/a", [], ["/a", 3], [None], {"/a": 1}.values()])
def test_wrong_types_are_type_errors(match: Any) -> None:
    with pytest.raises(TypeError, match="match= takes"):
        compile_matcher(match)


def test_join_paths() -> None:
    assert join_paths("", "/x") == "/x"
    assert join_paths("/todos", "/") == "/todos"
    assert join_paths("/todos", "/[id]") == "/todos/[id]"


@pytest.mark.parametrize(
    ("pattern", "matching", "other"),
    [
        ("/", ["/todos", "/todos/"], ["/", "/todos/1", "/todosx"]),
        ("/:id", ["/todos/1"], ["/todos", "/1", "/todos/1/x"]),
        ("/:path*", ["/todos", "/todos/1/x"], ["/todosx", "/other/todos"]),
        ("/((?!admin).*)", ["/todos/", "/todos/x"], ["/todos/admin", "/x"]),
    ],
)
def test_with_prefix_is_relative_to_the_prefix(
    pattern: str, matching: list[str], other: list[str]
) -> None:
    compiled = matcher(pattern).with_prefix("/todos")
    for path in matching:
        assert compiled(path), path
    for path in other:
        assert not compiled(path), path


def test_with_prefix_escapes_the_prefix_and_wraps_patterns() -> None:
    compiled = matcher(["/:id", re.compile("/a|/b")]).with_prefix("/v1.0")
    assert compiled("/v1.0/x")
    assert compiled("/v1.0/b")
    assert not compiled("/v1x0/x")
    assert not compiled("/b")
    assert matcher("/x").with_prefix("") is not None
    assert matcher("/x").with_prefix("")("/x")


def test_with_prefix_takes_route_parameters_in_the_prefix() -> None:
    compiled = matcher("/admin/:path*").with_prefix("/orgs/[org]/v<int:version>")
    assert compiled("/orgs/acme/v2/admin")
    assert compiled("/orgs/acme/v2/admin/users")
    assert not compiled("/orgs/acme/v2/public")
    assert not compiled("/orgs/acme/admin")
    dotted = matcher("/:id").with_prefix("/v1.0/[org]")
    assert dotted("/v1.0/acme/1")
    assert not dotted("/v1x0/acme/1")
    wide = matcher("/edit").with_prefix("/files/<path:name>")
    assert wide("/files/a/b/edit")


def test_with_prefix_nests() -> None:
    compiled = matcher("/:id").with_prefix("/todos").with_prefix("/api")
    assert compiled("/api/todos/1")
    assert not compiled("/todos/1")
    assert not compiled("/api/todos")


def test_repr_names_the_sources() -> None:
    assert repr(matcher(["/a", "/b/:id"])) == "Matcher(['/a', '/b/:id'])"


# Through the app: middleware runs exactly where its matcher says.


def tracking(api: Api, match: Any, seen: list[str]) -> None:
    @api.middleware(match=match)
    def track(req: Any, res: Any, next: Any) -> None:
        seen.append(req.path)
        next()


def test_middleware_runs_only_where_it_matches(api: Api, client: TestClient) -> None:
    seen: list[str] = []
    tracking(api, "/api/admin/:path*", seen)

    @api.route("/api/admin")
    def admin(req: Any, res: Any) -> None:
        res.json({})

    @api.route("/api/admin/[...rest]")
    def admin_rest(req: Any, res: Any) -> None:
        res.json({})

    @api.route("/api/adminx")
    def adminx(req: Any, res: Any) -> None:
        res.json({})

    for path in ["/api/admin", "/api/admin/a/b", "/api/adminx", "/api/nothing"]:
        client.get(path)
    assert seen == ["/api/admin", "/api/admin/a/b"]


def test_middleware_covers_a_route_declared_with_a_slash(api: Api, client: TestClient) -> None:
    @api.middleware(match="/api/admin/:path*")
    def deny(req: Any, res: Any, next: Any) -> None:
        res.status(401).json({"error": "unauthorized"})

    @api.route("/api/admin/")
    def admin(req: Any, res: Any) -> None:
        res.json({"secret": True})

    assert client.get("/api/admin/").status_code == 401


def test_negative_lookahead_matcher(api: Api, client: TestClient) -> None:
    seen: list[str] = []
    tracking(api, "/((?!api).*)", seen)

    @api.route("/api/x")
    def x(req: Any, res: Any) -> None:
        res.json({})

    @api.route("/page")
    def page(req: Any, res: Any) -> None:
        res.json({})

    client.get("/api/x")
    client.get("/page")
    client.get("/missing")
    assert seen == ["/page", "/missing"]


def test_router_middleware_matcher_is_relative_to_its_prefix(api: Api, client: TestClient) -> None:
    seen: list[str] = []
    todos = Router(prefix="/todos")

    @todos.middleware(match="/:id")
    def track(req: Any, res: Any, next: Any) -> None:
        seen.append(req.path)
        next()

    @todos.route("/")
    def index(req: Any, res: Any) -> None:
        res.json([])

    @todos.route("/<int:id>")
    def show(req: Any, res: Any) -> None:
        res.json({})

    api.include(todos)
    client.get("/todos")
    client.get("/todos/1")
    assert seen == ["/todos/1"]


def test_router_with_a_dynamic_prefix_still_runs_matched_middleware(
    api: Api, client: TestClient
) -> None:
    orgs = Router(prefix="/orgs/[org]")

    @orgs.middleware(match="/admin/:path*")
    def deny(req: Any, res: Any, next: Any) -> None:
        res.status(401).json({"error": "unauthorized"})

    @orgs.route("/admin/settings")
    def settings(req: Any, res: Any) -> None:
        res.json({"secret": True})

    @orgs.route("/public")
    def public(req: Any, res: Any) -> None:
        res.json({"org": req.params["org"]})

    api.include(orgs)
    assert client.get("/orgs/acme/admin/settings").status_code == 401
    assert client.get("/orgs/acme/public").json == {"org": "acme"}


def test_nested_router_middleware_keeps_its_matcher(api: Api, client: TestClient) -> None:
    seen: list[str] = []
    outer = Router(prefix="/api")
    inner = Router(prefix="/todos")

    @inner.middleware(match="/:id")
    def track(req: Any, res: Any, next: Any) -> None:
        seen.append(req.path)
        next()

    @inner.route("/")
    def index(req: Any, res: Any) -> None:
        res.json([])

    @inner.route("/<int:id>")
    def show(req: Any, res: Any) -> None:
        res.json({})

    outer.include(inner)
    api.include(outer)
    client.get("/api/todos")
    client.get("/api/todos/3")
    assert seen == ["/api/todos/3"]


# -- properties: generated patterns against an independent model --------------------------------


def budget(examples: int) -> Any:
    """*examples* under ``make test``, twenty times more under ``make fuzz``."""
    return settings(max_examples=examples * settings().max_examples // 100)


# A pattern is a list of whole segments: a literal, or a parameter with a
# modifier ("", "?", "*", "+") and the regex one segment must match.
Literal = str
Param = tuple[str, str]
Segment = Literal | Param

# Characters the matcher syntax gives a meaning to: escaped in literals.
SPECIAL = "\\:()?*+"
literal_text = st.text(st.sampled_from("aZ09._-~[]{}^$|é :()?*+\\"), min_size=1, max_size=5)
# (source in the pattern, regex for the model, strategy for one segment).
PARAM_REGEXES = [
    ("", "[^/]+", st.text(st.characters(blacklist_characters="/"), min_size=1, max_size=4)),
    ("(\\d+)", "\\d+", st.from_regex(r"[0-9]{1,3}", fullmatch=True)),
    ("([a-z]+)", "[a-z]+", st.from_regex(r"[a-z]{1,3}", fullmatch=True)),
    ("(a|bc)", "a|bc", st.sampled_from(["a", "bc"])),
]


def escape(text: str) -> str:
    return "".join("\\" + char if char in SPECIAL else char for char in text)


@st.composite
def patterns(draw: st.DrawFn) -> tuple[str, list[Segment], list[st.SearchStrategy[str]]]:
    """A matcher source, its model, and a value strategy per parameter."""
    source = ""
    model: list[Segment] = []
    values: list[st.SearchStrategy[str]] = []
    for index in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            text = draw(literal_text)
            source += "/" + escape(text)
            model.append(text)
            continue
        group, regex, value = draw(st.sampled_from(PARAM_REGEXES))
        modifier = draw(st.sampled_from(["", "?", "*", "+"]))
        name = draw(st.sampled_from([f":p{index}", f":p{index}", ""])) if group else f":p{index}"
        source += f"/{name}{group}{modifier}"
        model.append((modifier, regex))
        values.append(value)
    return source or "/", model, values


def model_matches(model: list[Segment], path: str, prefixed: bool = False) -> bool:
    """Whether *path* matches the pattern *model*, by backtracking on segments.

    :param prefixed: *path* is below a router prefix, where ``/`` is the
        prefix itself: no segments at all, which ``/:p*`` matches.
    """
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]  # one trailing slash is ignored
    if path == "/" and not prefixed:
        return not model  # only "/" itself: "/:p*" does not match the root
    if not path.startswith("/"):
        return False
    segments = path[1:].split("/") if path != "/" else []

    def walk(m: int, s: int) -> bool:
        if m == len(model):
            return s == len(segments)
        part = model[m]
        if isinstance(part, str):
            return s < len(segments) and segments[s] == part and walk(m + 1, s + 1)
        modifier, regex = part
        least = 1 if modifier in ("", "+") else 0
        most = 1 if modifier in ("", "?") else len(segments) - s
        for count in range(least, most + 1):
            taken = segments[s : s + count]
            if len(taken) < count or not all(re.fullmatch(regex, seg) for seg in taken):
                break
            if walk(m + 1, s + count):
                return True
        return False

    return walk(0, 0)


@st.composite
def paths_for(draw: st.DrawFn, model: list[Segment], values: list[st.SearchStrategy[str]]) -> str:
    """A path the pattern should match, or a near miss of one."""
    segments: list[str] = []
    strategies = iter(values)
    for part in model:
        if isinstance(part, str):
            segments.append(part)
            continue
        modifier, _ = part
        strategy = next(strategies)
        least = 1 if modifier in ("", "+") else 0
        most = 1 if modifier in ("", "?") else 3
        segments += draw(st.lists(strategy, min_size=least, max_size=most))
    path = "/" + "/".join(segments)
    mutation = draw(
        st.sampled_from(
            ["none", "none", "slash", "double", "drop", "repeat", "append", "case", "empty", "char"]
        )
    )
    if mutation == "slash":
        path += "/"
    elif mutation == "double":
        path += "//"
    elif mutation == "drop" and segments:
        del segments[draw(st.integers(0, len(segments) - 1))]
        path = "/" + "/".join(segments)
    elif mutation == "repeat" and segments:
        index = draw(st.integers(0, len(segments) - 1))
        segments.insert(index, segments[index])
        path = "/" + "/".join(segments)
    elif mutation == "append":
        path = path.rstrip("/") + "/" + draw(st.sampled_from(["x", "1", "a", "é"]))
    elif mutation == "case":
        path = path.swapcase()
    elif mutation == "empty" and segments:
        segments.insert(draw(st.integers(0, len(segments))), "")
        path = "/" + "/".join(segments)
    elif mutation == "char":
        index = draw(st.integers(0, len(path)))
        path = path[:index] + draw(st.sampled_from(["x", "/", ".", "\n", "%"])) + path[index:]
    return path


@budget(150)
@given(patterns(), st.data())
def test_generated_patterns_match_exactly_what_they_describe(
    pattern: tuple[str, list[Segment], list[st.SearchStrategy[str]]], data: st.DataObject
) -> None:
    source, model, values = pattern
    compiled = matcher(source)
    for _ in range(5):
        path = data.draw(paths_for(model, values))
        assert compiled(path) == model_matches(model, path), (source, path)


@budget(80)
@given(patterns(), patterns(), st.sampled_from(["/v1.0", "/orgs/[org]", "/a(b)"]), st.data())
def test_lists_and_prefixes_agree_with_the_model(
    first: tuple[str, list[Segment], list[st.SearchStrategy[str]]],
    second: tuple[str, list[Segment], list[st.SearchStrategy[str]]],
    prefix: str,
    data: st.DataObject,
) -> None:
    both = matcher([first[0], second[0]])
    prefixed = matcher(first[0]).with_prefix(prefix)
    prefix_value = prefix.replace("[org]", data.draw(st.sampled_from(["acme", "a.b", "é"])))
    for _ in range(4):
        path = data.draw(paths_for(*data.draw(st.sampled_from([first[1:], second[1:]]))))
        assert both(path) == (model_matches(first[1], path) or model_matches(second[1], path))
        if not path.startswith("/") or path.startswith("//"):
            continue  # not a path below the prefix
        # Under a prefix, the pattern's "/" is the prefix itself.
        under = prefix_value if path == "/" else prefix_value + path
        want = model_matches(first[1], path, prefixed=True)
        assert prefixed(under) == want, (first[0], prefix, under)
        assert not prefixed(path) or path.startswith(prefix_value)
