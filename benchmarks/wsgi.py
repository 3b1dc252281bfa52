"""The module gunicorn serves in server mode: ``benchmarks.wsgi:app``.

The framework and the scenario come from the environment, as
:mod:`benchmarks.server` sets them for each server it starts::

    MICROAPI_BENCH_FRAMEWORK=falcon MICROAPI_BENCH_SCENARIO=hello \\
        gunicorn benchmarks.wsgi:app
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from benchmarks.apps import FRAMEWORK_ENV, SCENARIO_ENV, load

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


def make_app() -> WSGIApplication:
    """Build ``benchmarks.apps.<framework>_app.make(scenario)`` as the environment says."""
    try:
        framework, scenario = os.environ[FRAMEWORK_ENV], os.environ[SCENARIO_ENV]
    except KeyError as exc:
        raise RuntimeError(
            f"set {FRAMEWORK_ENV} and {SCENARIO_ENV} (or run python -m benchmarks.server)"
        ) from exc
    return load(framework)(scenario)


#: The WSGI application gunicorn loads.
app = make_app()
