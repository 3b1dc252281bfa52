"""One module per framework, each exposing ``make(scenario) -> WSGI app``.

Modules are imported lazily by :func:`load`, so a framework that is missing or
broken (say, ``microapi`` while it is being written) only fails the runs that
ask for it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

#: Framework names, in the order tables list them.
FRAMEWORKS = ("microapi", "falcon", "flask", "bottle", "werkzeug", "bare")

#: Environment variables naming the framework and scenario :mod:`benchmarks.wsgi` serves.
FRAMEWORK_ENV = "MICROAPI_BENCH_FRAMEWORK"
SCENARIO_ENV = "MICROAPI_BENCH_SCENARIO"

#: ``make(scenario)``: a fresh WSGI application answering that scenario.
AppFactory: TypeAlias = "Callable[[str], WSGIApplication]"


class FrameworkUnavailable(RuntimeError):
    """The framework's app module could not be imported."""

    def __init__(self, framework: str, reason: ImportError) -> None:
        super().__init__(f"{framework}: {reason}")
        self.framework = framework


def load(framework: str) -> AppFactory:
    """Import ``benchmarks.apps.<framework>_app`` and return its ``make``."""
    if framework not in FRAMEWORKS:
        raise ValueError(f"unknown framework {framework!r}; choose from {', '.join(FRAMEWORKS)}")
    try:
        module = importlib.import_module(f"{__name__}.{framework}_app")
    except ImportError as exc:
        raise FrameworkUnavailable(framework, exc) from exc
    make: AppFactory = module.make
    return make


def unknown_scenario(framework: str, scenario: str) -> ValueError:
    """The error every ``make`` raises for a scenario it has no app for."""
    return ValueError(f"{framework}: no app for scenario {scenario!r}")
