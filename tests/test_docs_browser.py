"""The docs page in a real headless Chromium: it loads offline and lists the operations.

Needs Debian's ``chromium`` (``make browser-deps``, which ``make test`` runs);
the test fails rather than skips when it is missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from microapi import Api, Request, Res, Router
from microapi.middleware import bearer_auth
from tests.browser import Answered, driven, dump_dom, served


def docs_api(**options: Any) -> Api:
    api = Api(title="Browser", version="1.0.0", docs=True, **options)
    items = Router("/items", tags=["Items"])

    @items.route("/<int:id>")
    def item(req: Request, res: Res) -> dict[str, int]:
        """Get one item."""
        return {"id": req.params["id"]}

    @api.route("/health")
    def health(req: Request, res: Res) -> dict[str, str]:
        """Say the service is up."""
        return {"status": "ok"}

    api.include(items)
    return api


@pytest.fixture
def served_docs() -> Iterator[tuple[str, Answered]]:
    answered: Answered = []
    with served(docs_api(), answered) as server:
        yield f"http://127.0.0.1:{server.server_port}", answered


def test_the_docs_page_renders_the_operations_with_no_failed_request(
    served_docs: tuple[str, Answered], tmp_path: Path
) -> None:
    base, requests = served_docs
    result = dump_dom(f"{base}/docs", tmp_path / "profile")
    dom = result.stdout
    # Swagger UI rendered the document: the operations, their summaries and tags.
    paths = re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', dom)
    assert sorted(paths) == ["/health", "/items/{id}"]
    assert "Get one item." in dom
    assert "Say the service is up." in dom
    assert 'data-tag="Items"' in dom
    assert "Unable to render this definition" not in dom
    # Swagger UI 5 renders the 3.1 document itself, not a 3.0 rendition.
    assert 'class="version">OAS 3.1<' in dom
    # Nothing the page needs was refused by its policy or failed to load.
    assert "Content Security Policy" not in result.stderr
    assert "Failed to load resource" not in result.stderr
    fetched = {path for _, path, _ in requests}
    assert {
        "/docs",
        "/docs/static/swagger-ui.css",
        "/docs/static/swagger-ui-bundle.js",
        "/docs/static/init.js",
        "/openapi.json",
    } <= fetched
    assert all(status in (200, 304) for _, _, status in requests), requests


def test_the_docs_page_works_under_a_mount_prefix(tmp_path: Path) -> None:
    answered: Answered = []
    app = DispatcherMiddleware(NotFound(), {"/svc": docs_api()})
    with served(app, answered) as server:
        result = dump_dom(f"http://127.0.0.1:{server.server_port}/svc/docs", tmp_path / "p")
    paths = re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', result.stdout)
    assert sorted(paths) == ["/health", "/items/{id}"]
    # The page's URLs are relative: everything came from under the prefix, and
    # "Try it out" calls the prefixed paths (the document's servers entry).
    fetched = {path for _, path, _ in answered}
    assert {"/svc/docs", "/svc/docs/static/swagger-ui-bundle.js", "/svc/openapi.json"} <= fetched
    assert all(path.startswith("/svc/") for path in fetched), fetched
    assert all(status in (200, 304) for _, _, status in answered), answered
    assert '<select id="servers"><option value="/svc">/svc</option></select>' in result.stdout


def test_bearer_protected_operations_show_a_lock_and_the_page_an_authorize_button(
    tmp_path: Path,
) -> None:
    api = docs_api()
    api.middleware(bearer_auth(), match="/items/:path*")
    answered: Answered = []
    with served(api, answered) as server:
        result = dump_dom(f"http://127.0.0.1:{server.server_port}/docs", tmp_path / "p")
    dom = result.stdout
    assert '<button class="btn authorize unlocked">' in dom
    # One lock: /items/{id} is protected, /health is not.
    # Each operation's summary: its path, then its buttons (the lock among them).
    summaries = dom.split('class="opblock-summary-path" ')[1:]
    locked = {
        summary.split('"', 2)[1]: 'class="authorization__btn"' in summary
        for summary in summaries
        if summary.startswith('data-path="')
    }
    assert locked == {"/health": False, "/items/{id}": True}
    assert "Content Security Policy" not in result.stderr


def test_an_app_without_auth_has_no_authorize_button(
    served_docs: tuple[str, Answered], tmp_path: Path
) -> None:
    base, _ = served_docs
    dom = dump_dom(f"{base}/docs", tmp_path / "profile").stdout
    assert 'data-path="/health"' in dom
    assert "btn authorize" not in dom
    assert "authorization__btn" not in dom


def test_authorize_then_try_it_out_sends_the_bearer_token(tmp_path: Path) -> None:
    api = docs_api(secret_key="k" * 32)
    sent: list[tuple[str, str | None]] = []

    @api.middleware
    def record(req: Request, res: Res, next: Any) -> None:
        sent.append((req.path, req.headers.get("Authorization")))
        next()

    api.middleware(bearer_auth(), match="/items/:path*")
    token = api.tokens.issue({"sub": "ada"})
    answered: Answered = []
    with served(api, answered) as server, driven(tmp_path / "profile") as browser:
        browser.open(f"http://127.0.0.1:{server.server_port}/docs")
        # The Authorize button, its bearerAuth form, then the lock closes.
        browser.click("button.authorize.unlocked")
        browser.type(".auth-container input", token)
        browser.click(".auth-btn-wrapper button.authorize")
        browser.click("button.btn-done")
        browser.find("button.authorize.locked")
        # Try it out on the protected operation.
        browser.click('.opblock-summary-path[data-path="/items/{id}"]')
        browser.click("button.try-out__btn")
        browser.type('input[placeholder="id"]', "7")
        browser.click("button.execute")
        status = browser.text(".live-responses-table .response .response-col_status")
    assert status.startswith("200")
    assert ("/items/7", f"Bearer {token}") in sent
    assert ("GET", "/items/7", 200) in answered
