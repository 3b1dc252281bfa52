"""The release: sdist and wheel as built by ``make dist``, installed in a fresh venv.

The wheel goes into a virtualenv outside the repository, with its runtime
dependencies from the package index and no extras, and is used as a new
user would: ``microapi --help``, ``microapi serve`` of a hello app, and
every feature whose extra is missing, which must fail when it is set up
with a message naming the extra.  Built and installed once per session.
"""

from __future__ import annotations

import email
import http.client
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from microapi.extras import DISTRIBUTION, install_hint
from tests.helpers import ROOT, serving

HELLO = """\
from microapi import Api

api = Api()


@api.route("/hello")
def hello(req, res):
    res.json({"message": "Hello from the wheel"})
"""


@dataclass(frozen=True)
class Dist:
    """What ``python -m build`` made: the sdist, and the wheel built from it."""

    sdist: Path
    wheel: Path


@dataclass(frozen=True)
class Installed:
    """A fresh virtualenv with only the wheel and its runtime dependencies."""

    python: Path
    bin: Path
    app_dir: Path  # outside the repository: hello.py and copies of the db examples
    env: dict[str, str]

    def run(self, *command: str | Path) -> subprocess.CompletedProcess[str]:
        """Run *command* in :attr:`app_dir` with this venv's environment."""
        return subprocess.run(
            [str(part) for part in command],
            cwd=self.app_dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """``make dist``'s build: the sdist first, then the wheel from the sdist."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return Dist(sdist, wheel)


def _clean_environ() -> dict[str, str]:
    # NOTE: the test run's PYTHONPATH names the checkout, which would shadow
    # the installed wheel.
    return {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}


@pytest.fixture(scope="session")
def installed(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel, with no extras, in a new venv (its own site-packages only)."""
    base = tmp_path_factory.mktemp("fresh")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    env = {**_clean_environ(), "XDG_RUNTIME_DIR": str(base)}
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(dist.wheel)],
        check=True,
        env=env,
        capture_output=True,
        timeout=300,
    )
    app_dir = base / "app"
    for example in ("todos", "auth"):  # auth reuses the todos' database layer
        shutil.copytree(
            ROOT / "examples" / example,
            app_dir / "examples" / example,
            ignore=shutil.ignore_patterns("tests", "__pycache__", "*.db*"),
        )
    shutil.copy(ROOT / "examples" / "__init__.py", app_dir / "examples" / "__init__.py")
    (app_dir / "hello.py").write_text(HELLO)
    (app_dir / "docs_app.py").write_text("from microapi import Api\n\napi = Api(docs=True)\n")
    return Installed(python, venv / "bin", app_dir, env)


def test_the_sdist_has_the_licence_examples_tests_and_docs(dist: Dist) -> None:
    with tarfile.open(dist.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    expected = {
        "LICENSE",
        "README.md",
        "CHANGELOG.md",
        "docs/deployment.md",
        "examples/todos/wsgi.py",
        "examples/todos/tests/test_todos.py",
        "examples/pages/api/hello.py",
        "tests/helpers.py",
        "microapi/py.typed",
    }
    assert expected <= names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".db")]


def test_the_wheel_has_the_package_and_its_metadata(dist: Dist) -> None:
    with zipfile.ZipFile(dist.wheel) as wheel:
        names = wheel.namelist()
        (metadata_name,) = [name for name in names if name.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(wheel.read(metadata_name))
    assert {name.split("/")[0] for name in names} == {
        "microapi",
        metadata_name.split("/")[0],  # microapi_wsgi-VERSION.dist-info
    }
    assert "microapi/py.typed" in names
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert metadata["Name"] == DISTRIBUTION
    assert metadata["License"] == "BSD-3-Clause"
    classifiers = metadata.get_all("Classifier")
    assert not [c for c in classifiers if c.startswith("Framework ::")]  # not a Flask plugin
    assert "Topic :: Internet :: WWW/HTTP :: WSGI :: Application" in classifiers
    assert {url.split(",")[0] for url in metadata.get_all("Project-URL")} >= {"Source", "Issues"}
    extras = set(metadata.get_all("Provides-Extra"))
    assert {"redis", "docs", "granian", "db", "proxy", "orjson"} <= extras


def test_twine_accepts_both(dist: Dist) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(dist.sdist), str(dist.wheel)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("PASSED") == 2


def test_the_venv_uses_the_wheel_not_the_checkout(installed: Installed) -> None:
    out = installed.run(installed.python, "-c", "import microapi; print(microapi.__file__)")
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()).is_relative_to(installed.python.parent.parent)
    # No extras: none of their packages came along.
    for module in ("redis", "sqlalchemy", "granian", "swagger_ui_bundle", "urllib3"):
        probe = f"import importlib.util as u; print(u.find_spec({module!r}) is None)"
        assert installed.run(installed.python, "-c", probe).stdout.strip() == "True", module


def test_microapi_help(installed: Installed) -> None:
    out = installed.run(installed.bin / "microapi", "--help")
    assert out.returncode == 0, out.stderr
    for command in ("run", "serve", "routes", "openapi"):
        assert command in out.stdout


def _get_from_wheel(installed: Installed, tmp_path: Path, app: str, path: str) -> tuple[int, bytes]:
    with serving(
        app,
        tmp_path,
        workers=1,
        python=str(installed.python),
        cwd=installed.app_dir,
        env={"PYTHONPATH": ""},
    ) as served:
        connection = http.client.HTTPConnection(*served.address, timeout=10)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()


def test_microapi_serve_a_hello_app(installed: Installed, tmp_path: Path) -> None:
    answer = _get_from_wheel(installed, tmp_path, "hello:api", "/hello")
    assert answer == (200, b'{"message":"Hello from the wheel"}')


def test_the_docs_page_needs_no_extra(installed: Installed, tmp_path: Path) -> None:
    # Swagger UI is vendored into the wheel: Api(docs=True) serves it with no extra.
    status, body = _get_from_wheel(
        installed, tmp_path, "docs_app:api", "/docs/static/swagger-ui.css"
    )
    assert status == 200
    assert b".swagger-ui" in body


@pytest.mark.parametrize(
    ("extra", "command"),
    [
        pytest.param(
            "redis",
            ["-c", "from microapi.middleware import RedisStore; RedisStore('redis://127.0.0.1/0')"],
            id="redis: RedisStore construction",
        ),
        pytest.param(
            "db", ["-m", "microapi", "serve", "examples.todos.wsgi:api"], id="db: examples/todos"
        ),
        pytest.param(
            "db", ["-m", "microapi", "serve", "examples.auth.wsgi:api"], id="db: examples/auth"
        ),
        pytest.param(
            "granian",
            ["-m", "microapi", "serve", "hello:api", "--server", "granian"],
            id="granian: microapi serve --server granian",
        ),
    ],
)
def test_a_missing_extra_fails_at_setup_naming_it(
    installed: Installed, extra: str, command: list[str]
) -> None:
    # Every one of these fails before serving anything: no port is bound.
    out = installed.run(installed.python, *command)
    assert out.returncode != 0
    assert install_hint(extra) in out.stderr, out.stderr
    assert "Traceback" not in out.stderr or command[0] == "-c"  # microapi: one clear line


def _make_dry_run(target: str) -> str:
    # -B: as on a fresh clone (every recipe, stamps or not); -n: print, run nothing.
    out = subprocess.run(
        ["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_make_run_installs_the_demo_not_the_dev_toolchain() -> None:
    commands = _make_dry_run("run")
    assert "-m venv .venv-run\n" in commands
    assert "pip install --quiet -e '.[db,docs]'" in commands  # runtime + the example's
    assert "[dev]" not in commands
    # microapi serve: the access log with request ids.
    assert ".venv-run/bin/microapi serve examples.todos.wsgi:api " in commands


def test_make_test_installs_the_dev_toolchain() -> None:
    assert "pip install --quiet -e '.[dev]'" in _make_dry_run("pytest")
