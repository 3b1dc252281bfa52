"""microapi.docs: the docs page's own files (the page itself: tests/test_docs_browser.py)."""

from __future__ import annotations

import pytest

from microapi import Api
from microapi.testing import TestClient


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
        ("swagger-ui.css", "text/css; charset=utf-8"),
        ("init.js", "text/javascript; charset=utf-8"),
        ("favicon-32x32.png", "image/png"),
        ("favicon-16x16.png", "image/png"),
    ],
)
def test_static_files_have_one_content_type_and_one_charset(name: str, content_type: str) -> None:
    response = TestClient(Api(docs=True)).get(f"/docs/static/{name}")
    assert response.status_code == 200
    assert response.headers.getlist("Content-Type") == [content_type]
