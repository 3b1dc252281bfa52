"""The documentation site (mkdocs.yml, docs/) and the README: every example runs.

Every ``python`` code block of the README and of every page under ``docs/`` is
executed, in order, one namespace per page (as a reader pastes them one after
the other), by sybil's Markdown parser; ``<!-- invisible-code-block: python -->``
comments hold the setup or the checks a page does not show.  A block whose
lines are all ``--8<-- "path"`` includes (pymdownx.snippets) shows a file of
``examples/``, which that example's own tests run.

The convention for blocks that are not Python: they say which language they
are in (``sh``, ``nginx``, ...), from :data:`NOT_PYTHON`; a block with no
language, or another one, fails, so that no Python can slip by unexecuted.
"""

from __future__ import annotations

import configparser
import importlib
import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sybil import Example, Sybil
from sybil.evaluators.python import PythonEvaluator
from sybil.parsers.markdown import CodeBlockParser

import microapi
import microapi.middleware
from microapi import Api
from tests.helpers import ROOT

#: Every Markdown document whose code blocks are checked.
DOCUMENTS = sorted(
    [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").rglob("*.md")],
    key=lambda path: str(path),
)
#: The languages of blocks that are not executed: commands, configuration, other languages.
NOT_PYTHON = frozenset({"sh", "text", "nginx", "yaml", "ini", "json", "ts", "http"})
#: The environment the snippets read (never the process's own).
SNIPPET_ENV = {
    "MICROAPI_SECRET_KEYS": "an old key a new key",
    "WEATHER_KEY": "weather key",
    "OPENAI_API_KEY": "openai key",
    "RATE_LIMIT_DATABASE": "ratelimit.db",  # in the test's temporary folder
}
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+)(?P<info>[^\n`]*)$", re.MULTILINE)
INCLUDE = re.compile(r'^--8<-- "(?P<path>[^"]+)"$')
SETUP_CFG = ROOT / "setup.cfg"
MKDOCS_YML = ROOT / "mkdocs.yml"


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def fences(text: str) -> Iterator[tuple[int, str]]:
    """Yield (line, info string) of every opening fence of *text*."""
    opened: str | None = None
    for match in FENCE.finditer(text):
        if opened is None:
            opened = match["fence"]
            yield text.count("\n", 0, match.start()) + 1, match["info"].strip()
        elif match["fence"] == opened and not match["info"].strip():
            opened = None


def evaluate(example: Example) -> None:
    """Run one block, or check the included files of a block of includes."""
    source = str(example.parsed).strip()
    lines = source.splitlines()
    if lines and all(INCLUDE.match(line) for line in lines):
        for line in lines:
            included = ROOT / INCLUDE.match(line)["path"]  # type: ignore[index]
            assert included.is_file(), f"{example.path}:{example.line}: no {included}"
            # Shown, not run here: examples/ is code under test (its own tests/).
            assert included.is_relative_to(ROOT / "examples"), included
        return
    PythonEvaluator()(example)


@pytest.mark.parametrize("path", DOCUMENTS, ids=relative)
def test_every_python_block_runs(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SNIPPET_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # what a snippet writes lands here
    parser = CodeBlockParser(language="python", evaluator=evaluate)
    document = Sybil(parsers=[parser]).parse(path)
    # A page's blocks share a namespace; it is a wsgi.py of its own in an empty folder.
    document.namespace.update(__name__="snippet", __file__=str(tmp_path / "wsgi.py"), ROOT=ROOT)
    examples = list(document)
    try:
        for example in examples:
            try:
                example.evaluate()
            except Exception as error:
                raise AssertionError(f"{relative(path)}:{example.line}: {error!r}") from error
    finally:
        for value in list(document.namespace.values()):
            if isinstance(value, Api):
                value.close()
    text = path.read_text()
    python = [line for line, info in fences(text) if info == "python"]
    invisible = len(re.findall(r"^<!-- invisible-code-block: python$", text, re.MULTILINE))
    assert len(examples) == len(python) + invisible  # none was left out


@pytest.mark.parametrize("path", DOCUMENTS, ids=relative)
def test_every_other_block_names_its_language(path: Path) -> None:
    unnamed = [
        f"{relative(path)}:{line}: {info or 'no language'}"
        for line, info in fences(path.read_text())
        if info != "python" and info not in NOT_PYTHON
    ]
    assert unnamed == []


def test_enough_blocks_run() -> None:
    # A guard against a parser that silently stops finding blocks.
    count = sum(1 for path in DOCUMENTS for _, info in fences(path.read_text()) if info == "python")
    assert count >= 40, count


def documented_names() -> set[str]:
    """Every ``::: dotted.name`` of the reference pages."""
    names: set[str] = set()
    for page in (ROOT / "docs" / "reference").glob("*.md"):
        names.update(re.findall(r"^::: ([\w.]+)$", page.read_text(), re.MULTILINE))
    return names


@pytest.mark.parametrize(
    ("module", "names"),
    [(microapi, microapi.__all__), (microapi.middleware, microapi.middleware.__all__)],
    ids=["microapi", "microapi.middleware"],
)
def test_the_reference_covers_every_public_name(module: ModuleType, names: list[str]) -> None:
    missing = {f"{module.__name__}.{name}" for name in names} - documented_names()
    assert missing == set()


def test_the_reference_names_only_what_exists() -> None:
    for dotted in documented_names():
        module_name, _, attribute = dotted.rpartition(".")
        module = importlib.import_module(module_name)
        assert hasattr(module, attribute), dotted


def load_hooks() -> Any:
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None
    assert spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    return hooks


def test_the_cli_reference_is_generated_from_the_parser() -> None:
    hooks = load_hooks()
    page = (ROOT / "docs" / "reference" / "cli.md").read_text()
    assert hooks.CLI_MARKER in page
    generated = hooks.on_page_markdown(page, None, None, None)
    assert hooks.CLI_MARKER not in generated
    from microapi.cli import _parser

    for command in ("run", "serve", "routes", "openapi"):
        assert f"## `microapi {command}`" in generated
        usage = _parser().parse_known_args([command])[0]
        assert usage.command == command
    for option in ("--reload", "--server", "--workers", "--threads", "--json", "--output"):
        assert f"`{option}" in generated
    assert "(default: 8000)" in generated  # argparse's %(default)s, expanded


def project_urls() -> dict[str, str]:
    config = configparser.ConfigParser()
    config.read(SETUP_CFG)
    lines = config["metadata"]["project_urls"].strip().splitlines()
    return dict(line.split(" = ", 1) for line in (line.strip() for line in lines))


def test_mkdocs_uses_the_projects_address() -> None:
    source = project_urls()["Source"]
    assert f"repo_url: {source}\n" in MKDOCS_YML.read_text()
    assert project_urls()["Documentation"].startswith(source)


def test_the_readme_links_work_on_the_package_index() -> None:
    # The index shows the README without the repository around it: every link is
    # absolute, into this project's repository (same base as setup.cfg) or elsewhere.
    source = project_urls()["Source"]
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r"<(https?://[^>]+)>", text)
    assert links
    relative_links = [link for link in links if not link.startswith("https://")]
    assert relative_links == []
    raw = source.replace("https://github.com/", "https://raw.githubusercontent.com/")
    ours = [link for link in links if "microapi-wsgi/microapi-wsgi" in link]
    assert all(link.startswith((source + "/", raw + "/")) for link in ours), ours
    for link in ours:  # each points at a file of this tree
        path = re.sub(r"^.*?/(?:blob|tree)/main/|^" + re.escape(raw) + "/main/", "", link)
        path = path.split("#")[0]
        assert (ROOT / path).exists(), link


def test_every_page_is_in_the_nav() -> None:
    nav = MKDOCS_YML.read_text()
    pages = {relative(path)[len("docs/") :] for path in (ROOT / "docs").rglob("*.md")}
    assert {page for page in pages if f": {page}\n" not in nav} == set()
