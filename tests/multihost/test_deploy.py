"""deploy/: the docs show the nginx config the tests run, compose mirrors them.

Fast, so part of ``make test`` (the topology itself runs in ``make multihost``).
"""

from __future__ import annotations

import re
import subprocess
import sys

import yaml

from tests.helpers import ROOT

from .conftest import HOST_ENV
from .topology import NGINX_CONF

DOCS = ROOT / "docs" / "many-hosts.md"
COMPOSE = ROOT / "deploy" / "docker-compose.yml"


def test_the_docs_show_the_nginx_config_the_tests_run() -> None:
    blocks = re.findall(r"```nginx\n(.*?)```", DOCS.read_text(), re.DOTALL)
    assert blocks == [NGINX_CONF.read_text()]


def test_compose_runs_what_the_tests_run() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    # nginx: the shipped file as its template, every placeholder given.
    nginx = services["nginx"]
    assert "./nginx.conf:/etc/nginx/templates/default.conf.template:ro" in nginx["volumes"]
    placeholders = set(re.findall(r"\$\{(\w+)\}", NGINX_CONF.read_text()))
    assert placeholders == set(nginx["environment"])
    hosts = {value.split(":")[0] for key, value in nginx["environment"].items() if "HOST" in key}
    # The app hosts: the settings the tests give each host, the same command.
    for name in hosts:
        assert set(services[name]["environment"]) == set(HOST_ENV), name
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert '"microapi", "serve", "deploy.app:api"' in dockerfile
    assert '"--workers", "2"' in dockerfile
    # Redis without persistence, as tests.helpers.RedisServer runs it.
    assert services["redis"]["command"] == ["redis-server", "--save", "", "--appendonly", "no"]


def test_the_app_connects_to_nothing_at_import() -> None:
    # microapi serve imports the app in the master before it forks: nothing is
    # reachable here, and yet the import succeeds, without the database driver
    # (redis-py is imported, to check REDIS_URL, but connects to nothing).
    code = (
        "import os, sys\n"
        "os.environ.update(MICROAPI_SECRET_KEYS='k', REDIS_URL='redis://127.0.0.1:1/0',"
        " DATABASE_URL='postgresql://nobody@/none?host=/nonexistent')\n"
        "import deploy.app\n"
        "print(sorted(name for name in ('redis', 'psycopg') if name in sys.modules))\n"
        "import gc, socket\n"
        "print([s for s in gc.get_objects() if isinstance(s, socket.socket)])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["['redis']", "[]"]  # no socket at all
