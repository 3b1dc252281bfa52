"""Finding and loading APP: microapi.appload (the command's own tests are in test_cli.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from microapi import Api
from microapi.appload import LoadError, discover_app, load_app, require_api


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An importable directory; its modules forgotten afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("wsgi", "app"):
        sys.modules.pop(name, None)


def test_discover_app_returns_the_spec_and_the_object(folder: Path) -> None:
    (folder / "wsgi.py").write_text("from microapi import Api\napi = Api()\n")
    spec, obj = discover_app(folder)
    assert spec == "wsgi:api"
    assert isinstance(obj, Api)
    # The spec loads the same app again (granian's workers do).
    assert load_app(spec) is obj


def test_a_wrapped_wsgi_app_is_found_but_is_no_api(folder: Path) -> None:
    (folder / "app.py").write_text(
        "from microapi import Api\n"
        "from werkzeug.middleware.proxy_fix import ProxyFix\n"
        "api = ProxyFix(Api())\n"
    )
    spec, obj = discover_app(folder)
    assert spec == "app:api"
    with pytest.raises(LoadError, match="routes needs a microapi Api, and 'app:api' is a"):
        require_api(obj, spec, "routes")


def test_a_factory_named_api_is_not_called_as_a_wsgi_app(folder: Path) -> None:
    # api(environ, start_response) is a WSGI app; create_app() a factory: the first wins.
    (folder / "wsgi.py").write_text(
        "def api(environ, start_response):\n    return []\n\n"
        "def create_app():\n    raise AssertionError('not called')\n"
    )
    assert discover_app(folder)[0] == "wsgi:api"


def test_nothing_to_discover(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match=r"no wsgi\.py or app\.py in "):
        discover_app(tmp_path)
