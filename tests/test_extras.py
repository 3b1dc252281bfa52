"""microapi.extras: the distribution's name and extras, in step with setup.cfg and the docs."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys

import pytest

from microapi.extras import DISTRIBUTION, EXTRAS, MissingExtra, install_hint, require
from tests.helpers import ROOT


def setup_cfg() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config


def test_the_distribution_name_is_setup_cfgs() -> None:
    assert setup_cfg()["metadata"]["name"] == DISTRIBUTION == "microapi-wsgi"


def test_every_extra_named_exists_in_setup_cfg() -> None:
    declared = set(setup_cfg()["options.extras_require"])
    assert set(EXTRAS.values()) <= declared
    # Every extra a user may need is named (bench, site and dev are the project's own).
    assert declared - set(EXTRAS.values()) == {"bench", "dev", "site"}


def test_install_hint() -> None:
    assert install_hint("redis") == 'pip install "microapi-wsgi[redis]"'
    with pytest.raises(KeyError):
        install_hint("nonsense")


def test_require_passes_for_an_installed_module() -> None:
    require("werkzeug", "docs", "anything")  # no error: installed


def test_require_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # as if not installed
    with pytest.raises(MissingExtra) as caught:
        require("redis", "redis", "RedisStore")
    assert str(caught.value) == (
        "RedisStore needs the redis package, which is not installed: "
        'pip install "microapi-wsgi[redis]"'
    )
    assert isinstance(caught.value, ImportError)
    assert caught.value.name == "redis"


def test_require_does_not_import_the_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "tabnanny", raising=False)
    require("tabnanny", "db", "x")  # installed (the standard library's), so no error
    assert "tabnanny" not in sys.modules
    with pytest.raises(MissingExtra, match=r"microapi-wsgi\[db\]"):
        require("this_module_is_not_installed_anywhere", "db", "x")


@pytest.mark.parametrize("example", ["todos", "auth"])
def test_without_sqlalchemy_importing_a_db_example_names_the_extra(example: str) -> None:
    # A fresh interpreter: this one may have imported the examples (and SQLAlchemy).
    # NOTE: auth reuses the todos' database layer; its own check comes first.
    code = f"import sys; sys.modules['sqlalchemy'] = None; import examples.{example}.wsgi"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1] == (
        f"microapi.extras.MissingExtra: examples/{example} needs the sqlalchemy package, "
        'which is not installed: pip install "microapi-wsgi[db]"'
    )


@pytest.mark.parametrize(
    "path",
    [
        "README.md",
        "CONTRIBUTING.md",
        *sorted(str(page.relative_to(ROOT)) for page in (ROOT / "docs").rglob("*.md")),
    ],
)
def test_the_docs_install_this_project_not_the_other_microapi(path: str) -> None:
    # "microapi" on the package index is an unrelated project.
    text = (ROOT / path).read_text()
    wrong = re.findall(r"pip\s+install\s+(?:-\S+\s+)*[\"']?microapi(?![-\w])", text)
    assert wrong == []
