"""The route table answers exactly what werkzeug's ``Map.bind(...).match`` answers.

Routes and request paths are generated from one small alphabet of segments,
so generated paths hit generated routes often; the werkzeug map built from
the same rules is the oracle.  microapi's one addition, the Next.js
trailing-slash redirect (``/todos/`` → ``/todos``), is checked precisely.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, RequestRedirect, Rule

from microapi import Api, Route
from microapi.routing import compile_path
from microapi.routing.table import Miss, RouteTable
from microapi.testing import TestClient

# Methods routes declare. HEAD is implied by GET; a declared HEAD wins over it
# whatever the order, where werkzeug takes the first rule: pinned cases below.
METHODS = ["GET", "POST", "PUT", "DELETE"]
# Methods requests use: the declared ones and one never declared.
ASKED = [*METHODS, "PATCH"]
STATIC = ["a", "b", "ab", "1", "x.y"]
# Segment templates; "{}" becomes a parameter name unique within the rule.
DYNAMIC = [
    "<{}>",
    "<int:{}>",
    "<float:{}>",
    "<path:{}>",
    "<any(a,b):{}>",
    "<int(max=9):{}>",
    "<float(max=1.0):{}>",
    "<int:{}>-<{}>",
    "v<int:{}>",
    "[{}]",
]
CATCH_ALL = ["[...{}]", "[[...{}]]"]
# Request segments: the static words, values for every converter, and noise.
REQUEST = [
    *STATIC,
    "",
    "0",
    "42",
    "007",
    "1.5",
    "0.25",
    "-1",
    "\u0663",  # ARABIC-INDIC DIGIT THREE: not an ASCII digit
    "1\u0663",
    "\uff11",  # FULLWIDTH DIGIT ONE
    "4-x",
    "v4",
    "v\u0663",
    "é",
    "a b",
    "c",
]
# What werkzeug leaves unquoted in a redirect path.
REDIRECT_SAFE = "!$&'()*+,/:;=@"
# Request segments for each converter: values it takes, and some it must not.
SAMPLES = {
    "": ["a", "q", "é", "1", "", "a.b"],
    "int": ["0", "7", "42", "007", "\u0663", "-1", "1.5"],
    "float": ["0.25", "1.5", "1", "\u0663.5", "1.\u0663"],
    "path": ["a", "a/b", "a//b", "a/", "/a", "", "a\nb", "\n/b"],
    "catchall": ["a", "a/b", "a//b", "a/", "/a", ""],
    "any(a,b)": ["a", "b", "ab", ""],
    "int(max=9)": ["3", "42", "\u0663"],
    "float(max=1.0)": ["0.25", "1.5"],
}
# A werkzeug placeholder: (converter, name).
PARAM = re.compile(r"<(?:(\w+(?:\(.*?\))?):)?(\w+)>")
# Values url_for is given, by converter.
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "": st.sampled_from(["a", "q", "x y", "é", "1"]),
    "int": st.integers(min_value=0, max_value=999),
    "float": st.sampled_from([0.5, 1.25, 10.0, 1e20, 1e-07]),
    "any(a,b)": st.sampled_from(["a", "b"]),
    "int(max=9)": st.integers(min_value=0, max_value=9),
    "float(max=1.0)": st.sampled_from([0.5, 0.25]),
    "path": st.sampled_from(["a", "a/b", "x y/z", "a\nb/\n"]),
}
BOUNDED = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def handler(req: Any, res: Any) -> None:
    res.json({})


@st.composite
def rule_paths(draw: st.DrawFn) -> str:
    segments = draw(
        st.lists(
            st.one_of(st.sampled_from(STATIC), st.sampled_from(DYNAMIC)), min_size=0, max_size=3
        )
    )
    catch_all = draw(st.one_of(st.none(), st.sampled_from(CATCH_ALL)))
    if catch_all is not None:
        segments.append(catch_all)
    names = iter(f"p{n}" for n in range(20))
    filled = []
    for segment in segments:
        while "{}" in segment:
            segment = segment.replace("{}", next(names), 1)
        filled.append(segment)
    path = "/" + "/".join(filled)
    if catch_all is None and segments and draw(st.booleans()):
        path += "/"
    return path


routes_strategy = st.lists(
    st.tuples(
        rule_paths(),
        st.sets(st.sampled_from(METHODS), min_size=1, max_size=3),
    ),
    min_size=1,
    max_size=8,
)


@st.composite
def request_paths(draw: st.DrawFn) -> str:
    segments = draw(
        st.lists(
            st.one_of(
                st.sampled_from(REQUEST),
                st.text(alphabet="ab1./\u0663é", max_size=4),
            ),
            max_size=5,
        )
    )
    path = "/" + "/".join(segments)
    if draw(st.booleans()):
        path += "/"
    # What the app hands the table: req.path, with one leading slash.
    return "/" + path.lstrip("/")


def build(specs: list[tuple[str, set[str]]]) -> tuple[RouteTable, Map, dict[str, Route]]:
    """The table for *specs*, and a werkzeug map with the rules it accepted."""
    table = RouteTable()
    oracle = Map(converters=dict(RouteTable().map.converters), redirect_defaults=False)
    routes: dict[str, Route] = {}
    for index, (path, methods) in enumerate(specs):
        route = Route(
            path=path,
            handler=handler,
            methods=frozenset(methods),
            name=f"r{index}",
            spec=compile_path(path),
        )
        try:
            table.add(route)
        except ValueError as exc:
            # Only a path and method registered twice may be refused.
            if "already registered" not in str(exc):
                raise
            continue
        routes[route.name] = route
    for route in routes.values():
        for rule in route.spec.rules:
            oracle.add(Rule(rule, endpoint=route.name, methods=route.methods))
    table.compile()
    return table, oracle, routes


def werkzeug_answer(oracle: Map, path: str, method: str) -> Any:
    try:
        return oracle.bind("localhost").match(path, method)
    except (RequestRedirect, MethodNotAllowed, NotFound) as exc:
        return exc


def near_paths(routes: list[Route], data: st.DataObject) -> list[tuple[str, str]]:
    """Requests close to the routes' own paths, which random paths rarely hit.

    Each rule gets its placeholders filled with values its converters take
    or must refuse, and a slash added, removed or doubled.
    """
    probes = []
    for route in routes:
        for rule in route.spec.rules:
            path = PARAM.sub(lambda m: data.draw(st.sampled_from(SAMPLES[m[1] or ""])), rule)
            path = data.draw(
                st.sampled_from([path, path + "/", path.rstrip("/"), path.replace("/", "//", 1)])
            )
            probes.append(("/" + path.lstrip("/"), data.draw(st.sampled_from(ASKED))))
    return probes


def add_all(api: Api, specs: list[tuple[str, set[str]]], handler: Any) -> list[Route]:
    """Register *specs* on *api*, skipping those registered twice."""
    routes = []
    for index, (path, methods) in enumerate(specs):
        try:
            routes.append(api.add_route(path, handler, sorted(methods), name=f"r{index}"))
        except ValueError as exc:
            if "already registered" not in str(exc):
                raise
    return routes


def expected_params(route: Route, values: dict[str, Any]) -> dict[str, Any]:
    params = dict(values)
    for name in route.spec.list_params:
        params[name] = params[name].split("/") if name in params else []
    return params


@BOUNDED
@given(
    specs=routes_strategy,
    requests=st.lists(
        st.tuples(request_paths(), st.sampled_from(ASKED)),
        min_size=1,
        max_size=12,
    ),
    data=st.data(),
)
def test_table_agrees_with_werkzeug(
    specs: list[tuple[str, set[str]]], requests: list[tuple[str, str]], data: st.DataObject
) -> None:
    table, oracle, routes = build(specs)
    # The same rules without slash merging: whether a path matches as it is.
    exact = Map(
        [rule.empty() for rule in oracle.iter_rules()],
        converters=oracle.converters,
        merge_slashes=False,
    )
    for path, method in [*requests, *near_paths(list(routes.values()), data)]:
        got = table.match(path, method)
        want = werkzeug_answer(oracle, path, method)
        where = f"{method} {path!r} with routes {specs!r}: table {got!r}, werkzeug {want!r}"
        event("match" if isinstance(want, tuple) else type(want).__name__)
        if isinstance(want, tuple):
            assert not isinstance(got, Miss), where
            entry, params = got
            endpoint, values = want
            assert entry.route.name == endpoint, where
            assert params == expected_params(entry.route, values), where
        elif isinstance(want, RequestRedirect):
            assert isinstance(got, Miss), where
            assert got.redirect == urlsplit(want.new_url).path, where
            assert not got.allowed, where
        elif isinstance(want, MethodNotAllowed):
            assert isinstance(got, Miss), where
            assert got.redirect is None, where
            assert got.allowed == set(want.valid_methods or ()), where
        else:
            assert isinstance(got, Miss), where
            assert not got.allowed, where
            # microapi's own rule: "/todos/" → "/todos" exactly when werkzeug
            # finds "/todos" as it is (for this method or another).
            # Doubled slashes are merged first: "/todos//" → "/todos".
            merged = re.sub("/{2,}", "/", path)
            stripped = merged[:-1]
            slash_only = len(merged) > 1 and merged.endswith("/")
            if slash_only and isinstance(
                werkzeug_answer(exact, stripped, method), (tuple, MethodNotAllowed)
            ):
                event("next.js trailing-slash redirect")
                assert got.redirect == quote(stripped, safe=REDIRECT_SAFE), where
            else:
                assert got.redirect is None, where


def echo(req: Any, res: Any) -> None:
    res.json({"name": req.route.name, "params": req.params})


@BOUNDED
@given(specs=routes_strategy, data=st.data())
def test_url_for_reaches_every_route(
    specs: list[tuple[str, set[str]]], data: st.DataObject
) -> None:
    api = Api()
    # A converter that rejects a value it matched ends werkzeug's search with
    # a 404, shadowing the routes after it: leave converter arguments out.
    # A path or catch-all before other parameters makes URLs ambiguous
    # ("/a/b/c" for <path:x>/<y>): url_for cannot round-trip those either.
    routes = add_all(
        api,
        [
            spec
            for spec in specs
            if "(max=" not in spec[0]
            and not re.search(r"<(?:path|catchall):\w+>.*<", compile_path(spec[0]).rules[-1])
        ],
        echo,
    )
    client = TestClient(api)
    for route in routes:
        method = min(route.methods - {"HEAD"}, default="HEAD")
        params: dict[str, Any] = {}
        for converter, name in PARAM.findall(route.rule):
            if name in route.spec.list_params:
                least = 0 if name in route.spec.optional_params else 1
                segments = st.sampled_from(["a", "b c", "1"])
                params[name] = data.draw(st.lists(segments, min_size=least, max_size=3))
            else:
                params[name] = data.draw(VALUES[converter])
        url = api.url_for(route.name, **params)
        response = client.open(url, method=method)
        if response.status_code == 308:
            # werkzeug: a route declared with a trailing slash wins over a
            # converter for the path without it ("/a/" shadows "/<x>" at "/a").
            assert response.headers["Location"] == url + "/", url
            shadowed = url
            url += "/"
            response = client.open(url, method=method)
        else:
            shadowed = None
        assert response.status_code == 200, (url, method, response.status_code)
        if method == "HEAD":
            continue
        # The route that answered (this one, or one that wins over it, such
        # as a static route) rebuilds the very same URL from its values.
        answer = response.json
        assert api.url_for(answer["name"], **answer["params"]) == url, (url, answer)
        assert answer["name"] != route.name or shadowed is None
        # Two parameters that take slashes may split a path another way.
        ambiguous = [converter for converter, _ in PARAM.findall(route.rule)].count("path") > 1
        if answer["name"] == route.name and not ambiguous:
            assert answer["params"] == params


@BOUNDED
@given(
    specs=routes_strategy,
    requests=st.lists(
        st.tuples(request_paths(), st.sampled_from([*ASKED, "OPTIONS"])),
        min_size=1,
        max_size=4,
    ),
    data=st.data(),
)
def test_no_generated_path_is_a_server_error(
    specs: list[tuple[str, set[str]]], requests: list[tuple[str, str]], data: st.DataObject
) -> None:
    api = Api()
    routes = add_all(api, specs, handler)
    client = TestClient(api)
    for path, method in [*requests, *near_paths(routes, data)]:
        response = client.open(quote(path), method=method)
        assert response.status_code < 500, (method, path, response.get_data(as_text=True))
        assert response.status_code in {200, 204, 308, 404, 405}, (method, path)
        if response.status_code == 405:
            assert "OPTIONS" in response.headers["Allow"]
        if response.status_code == 308:
            assert response.headers["Location"].startswith("/")


def test_static_route_with_doubled_slash_redirects_like_werkzeug() -> None:
    # The rule "/a//b" is compiled with slashes merged: werkzeug answers
    # "/a/b" and redirects "/a//b" to it; the table's fast path must too.
    table, oracle, _ = build([("/a//b", {"GET"})])
    assert isinstance(werkzeug_answer(oracle, "/a//b", "GET"), RequestRedirect)
    assert table.match("/a//b", "GET") == Miss(redirect="/a/b")
    found = table.match("/a/b", "GET")
    assert not isinstance(found, Miss)
    assert found[0].route.name == "r0"


@pytest.mark.parametrize(
    "segment", ["it's", 'say "hi"', "back\\slash", "new\nline", "\x00", "é", "a'+'b", "{}", "%s"]
)
def test_static_segments_are_data_in_the_compiled_matcher(segment: str) -> None:
    # The compiled matcher embeds static segments in Python source: quotes,
    # backslashes and newlines stay text, matching only themselves.
    table, oracle, _ = build([(f"/{segment}/<int:n>", {"GET"}), ("/<p>/<int:n>", {"POST"})])
    found = table.match(f"/{segment}/7", "GET")
    assert not isinstance(found, Miss)
    assert (found[0].route.name, found[1]) == ("r0", {"n": 7})
    assert werkzeug_answer(oracle, f"/{segment}/7", "GET") == ("r0", {"n": 7})
    assert table.match("/other/7", "GET") == Miss({"POST"})


# Rare shapes the generated route sets reach only now and then, pinned here.
# Each is (routes, method, path, what the table answers); the test checks
# werkzeug's answer too.
PINNED = [
    # A converter rejects a value: werkzeug stops there, and its 405 lists
    # the methods of the rules registered before the one that matched.
    (
        [("/x/<int(max=5):n>", {"POST"}), ("/x/<int(max=5):m>", {"GET"})],
        "GET",
        "/x/9",
        Miss({"POST"}),
    ),
    ([("/x/<int(max=5):n>", {"GET"}), ("/x/<m>", {"GET"})], "GET", "/x/9", Miss()),
    # ... and the Next.js redirect goes where werkzeug finds the path.
    (
        [("/<float:p>/a", {"GET"}), ("/<float(max=1.0):p>/[...rest]", {"GET"})],
        "GET",
        "/1.5/a/",
        Miss(redirect="/1.5/a"),
    ),
    ([("/<int(max=9):n>", {"GET"})], "GET", "/42/", Miss()),
    (
        [("/x/<int(max=5):n>", {"POST"}), ("/x/<int(max=5):m>", {"GET"})],
        "GET",
        "/x/9/",
        Miss(redirect="/x/9"),
    ),
    # ... but never back to a path that redirects to the slash again.
    ([("/<int:n>", {"POST"}), ("/<int(max=9):m>/", {"GET"})], "GET", "/42/", Miss()),
    ([("/<int:n>", {"POST"}), ("/<int(max=9):m>/", {"GET"})], "GET", "/42", Miss(redirect="/42/")),
    # Next.js redirect for a path that answers other methods only.
    ([("/todos", {"POST"})], "GET", "/todos/", Miss(redirect="/todos")),
    ([("/todos", {"POST"})], "GET", "/todos", Miss({"POST"})),
    ([("/todos", {"POST"})], "GET", "/todos//", Miss(redirect="/todos")),
    ([("/todos", {"POST"})], "GET", "/", Miss()),
    # The reverse: a route declared with a slash (werkzeug's own redirect).
    ([("/todos/", {"GET"})], "GET", "/todos", Miss(redirect="/todos/")),
    ([("/todos/", {"GET"})], "GET", "/todos//", Miss(redirect="/todos/")),
    ([("/todos/", {"GET"})], "POST", "/todos", Miss()),
    # A declared HEAD registered before a GET route takes HEAD over.
    ([("/a", {"HEAD"}), ("/a", {"GET"})], "HEAD", "/a", "r0"),
    ([("/a", {"HEAD"}), ("/a", {"GET"})], "GET", "/a", "r1"),
    # Unicode digits are not digits to the int and float converters.
    ([("/u/<int:n>", {"GET"})], "GET", "/u/\u0663", Miss()),
    ([("/u/<float:n>", {"GET"})], "GET", "/u/1.\u0663", Miss()),
    # The compiled matcher (microapi.routing.compiled) walks in werkzeug's order:
    # a path that needs its slash ends the search, even with a dynamic
    # route left to try...
    ([("/a/", {"GET"}), ("/<p>", {"GET"})], "GET", "/a", Miss(redirect="/a/")),
    ([("/a/", {"POST"}), ("/<p>", {"GET"})], "GET", "/a", "r1"),
    # ... a static segment that leads nowhere falls back to a dynamic one,
    # also among more siblings than it compares one by one...
    ([("/a/b", {"GET"}), ("/<p>/c", {"GET"})], "GET", "/a/c", "r1"),
    (
        [*((f"/s{i}/b", {"GET"}) for i in range(6)), ("/<p>/c", {"GET"})],
        "GET",
        "/s3/c",
        "r6",
    ),
    ([*((f"/s{i}/b", {"GET"}) for i in range(6))], "GET", "/s3/b", "r3"),
    # ... past the depth where it starts a new function...
    (
        [("/" + "/".join("abcdefghijklmnop") + "/<int:n>", {"GET"})],
        "GET",
        "/" + "/".join("abcdefghijklmnop") + "/7",
        "r0",
    ),
    # ... and an int too long for int() is not a match, as in werkzeug.
    ([("/u/<int:n>", {"GET"})], "GET", "/u/" + "9" * 5000, Miss()),
]


@pytest.mark.parametrize(("specs", "method", "path", "want"), PINNED)
def test_pinned_cases(
    specs: list[tuple[str, set[str]]], method: str, path: str, want: Miss | str
) -> None:
    table, oracle, routes = build(specs)
    assert len(routes) == len(specs)
    got = table.match(path, method)
    expected = werkzeug_answer(oracle, path, method)
    if isinstance(want, str):
        assert not isinstance(got, Miss)
        assert got[0].route.name == want == expected[0]
        return
    assert got == want
    if want.redirect is not None and isinstance(expected, RequestRedirect):
        assert urlsplit(expected.new_url).path == want.redirect
    elif want.allowed:
        assert isinstance(expected, MethodNotAllowed)
        assert set(expected.valid_methods or ()) == want.allowed
    else:
        assert isinstance(expected, NotFound)


def budget(examples: int) -> Any:
    """*examples* under ``make test``, twenty times more under ``make fuzz``."""
    return settings(
        max_examples=examples * settings().max_examples // 100,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# Any text a decoded path can hold (no surrogates: decode_wsgi replaces bad
# bytes), with the route alphabet mixed in so that some of it matches.
hostile_request_paths = st.lists(
    st.one_of(
        st.sampled_from(REQUEST),
        st.text(max_size=6),
        st.sampled_from(["%", "%2F", "\x00", "\n", ".", "..", "\ufffd", "a" * 300, "0" * 5000]),
    ),
    max_size=6,
).map(lambda segments: "/" + "/".join(segments).lstrip("/"))


@budget(50)
@given(
    specs=routes_strategy,
    requests=st.lists(
        st.tuples(hostile_request_paths, st.sampled_from(ASKED)), min_size=1, max_size=8
    ),
    data=st.data(),
)
def test_table_agrees_with_werkzeug_on_any_text(
    specs: list[tuple[str, set[str]]], requests: list[tuple[str, str]], data: st.DataObject
) -> None:
    # The same oracle as above, for paths made of any text.
    test_table_agrees_with_werkzeug.hypothesis.inner_test(specs, requests, data)  # type: ignore[attr-defined]


def test_the_path_converter_matches_newlines_as_werkzeug_would_with_dotall() -> None:
    # werkzeug's own regex, "[^/].*?", has no DOTALL: "/f/a%0Ab" would 404.
    table, oracle, _ = build([("/f/<path:p>", {"GET"}), ("/g/<path:p>/x", {"GET"})])
    for path, name, value in [
        ("/f/a\nb", "r0", "a\nb"),
        ("/f/\n", "r0", "\n"),
        ("/f/a/\n/b", "r0", "a/\n/b"),
        ("/g/\n\n/x", "r1", "\n\n"),
    ]:
        found = table.match(path, "GET")
        assert not isinstance(found, Miss), path
        assert (found[0].route.name, found[1]) == (name, {"p": value})
        assert werkzeug_answer(oracle, path, "GET") == (name, {"p": value})
    assert table.match("/f/", "GET") == Miss()  # a path parameter is never empty
