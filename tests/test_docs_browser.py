"""The docs page in a real headless Chromium: it loads offline and lists the operations.

Needs Debian's ``chromium`` (``make browser-deps``, which ``make test`` runs);
the test fails rather than skips when it is missing.
"""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from microapi import Api, Request, Res, Router

CHROMIUM = Path("/usr/bin/chromium")


def docs_api() -> Api:
    api = Api(title="Browser", version="1.0.0", docs=True)
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


class Recording(WSGIRequestHandler):
    """Records ``(method, path, status)`` of every request instead of logging it."""

    requests: list[tuple[str, str, int]]

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.requests.append((self.command, self.path, int(code)))


@pytest.fixture
def served() -> Iterator[tuple[str, list[tuple[str, str, int]]]]:
    requests: list[tuple[str, str, int]] = []
    handler = type("Handler", (Recording,), {"requests": requests})
    server = make_server("127.0.0.1", 0, docs_api(), threaded=True, request_handler=handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_the_docs_page_renders_the_operations_with_no_failed_request(
    served: tuple[str, list[tuple[str, str, int]]], tmp_path: Path
) -> None:
    assert CHROMIUM.exists(), "chromium is missing: run `make browser-deps` (apt-get)"
    base, requests = served
    result = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            # Console messages (CSP violations among them) go to stderr.
            "--enable-logging=stderr",
            "--log-level=0",
            "--virtual-time-budget=5000",
            "--dump-dom",
            f"{base}/docs",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    dom = result.stdout
    # Swagger UI rendered the document: the operations, their summaries and tags.
    paths = re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', dom)
    assert sorted(paths) == ["/health", "/items/{id}"]
    assert "Get one item." in dom
    assert "Say the service is up." in dom
    assert 'data-tag="Items"' in dom
    assert "Unable to render this definition" not in dom
    # Nothing the page needs was refused by its policy or failed to load.
    assert "Content Security Policy" not in result.stderr
    assert "Failed to load resource" not in result.stderr
    fetched = {path for _, path, _ in requests}
    assert {
        "/docs",
        "/docs/static/swagger-ui.css",
        "/docs/static/swagger-ui-bundle.js",
        "/docs/static/init.js",
        "/docs/openapi-3.0.json",
    } <= fetched
    assert all(status in (200, 304) for _, _, status in requests), requests
