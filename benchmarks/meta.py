"""What a benchmark result depends on: interpreter, library versions, Falcon's build, date."""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import platform
from dataclasses import asdict
from importlib import metadata
from importlib.machinery import EXTENSION_SUFFIXES
from typing import Any

#: Distributions whose versions go in every report, by display name.
DISTRIBUTIONS = {
    # microapi.extras.DISTRIBUTION, spelt out: importing microapi here would load
    # it in runs that time only its peers.
    "microapi": "microapi-wsgi",
    "werkzeug": "werkzeug",
    "Flask": "flask",
    "Bottle": "bottle",
    # microapi encodes JSON with orjson when it is installed (the dev and
    # bench extras install it); the other frameworks use the standard library.
    "orjson": "orjson",
}


def _is_extension(module: str) -> bool:
    """Whether *module* would be loaded from a compiled extension (without importing it)."""
    spec = importlib.util.find_spec(module)
    return (
        spec is not None
        and spec.origin is not None
        and spec.origin.endswith(tuple(EXTENSION_SUFFIXES))
    )


def falcon_build() -> str:
    """Falcon's version and whether its Cython extensions are in use.

    Since Falcon 4.1 binary wheels compile only ``falcon.cyutil`` (hot helpers);
    older or source builds may compile the core modules too.
    """
    try:
        import falcon
    except ImportError:
        return "not installed"
    if _is_extension("falcon.app"):
        build = "compiled core"
    elif _is_extension("falcon.cyutil.uri"):
        build = "compiled falcon.cyutil, pure-Python core"
    else:
        build = "pure Python"
    return f"{falcon.__version__} ({build})"


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def cpu() -> str:
    """The processor's model name (from ``/proc/cpuinfo`` on Linux) and CPU count."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            for line in file:
                if line.startswith("model name"):
                    model = line.partition(":")[2].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count() or '?'} CPUs"


def cpu_jiffies() -> tuple[int, int]:
    """The machine's CPU time stolen by the hypervisor and its total, in jiffies, so far.

    From ``/proc/stat``'s first line (``steal`` is its eighth number); ``(0, 0)``
    where it cannot be read.
    """
    try:
        with open("/proc/stat", encoding="ascii") as file:
            numbers = [int(value) for value in file.readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    return (numbers[7] if len(numbers) > 7 else 0), sum(numbers)


def stolen_percent(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of the CPU time between two :func:`cpu_jiffies` readings the hypervisor took."""
    total = after[1] - before[1]
    return round(100 * (after[0] - before[0]) / total, 2) if total > 0 else 0.0


def environment() -> dict[str, str]:
    """The facts printed above, and stored with, every result."""
    return {
        "date": datetime.date.today().isoformat(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": f"{platform.system()} {platform.machine()}",
        "cpu": cpu(),
        "Falcon": falcon_build(),
        **{name: _version(distribution) for name, distribution in DISTRIBUTIONS.items()},
    }


def header_line(facts: dict[str, str]) -> str:
    """``facts`` (from :func:`environment`) as one line."""
    # NOTE: results written before orjson was listed lack it.
    versions = (f"{name} {facts[name]}" for name in ("Falcon", *DISTRIBUTIONS) if name in facts)
    machine = [facts["platform"], facts["cpu"]] if "cpu" in facts else [facts["platform"]]
    return " · ".join([facts["python"], *versions, *machine, facts["date"]])


def write_json(
    path: str, facts: dict[str, str], settings: dict[str, Any], results: list[Any]
) -> None:
    """Write a run's environment, settings and results (dataclasses) as JSON to *path*."""
    document = {
        "environment": facts,
        "settings": settings,
        "results": [asdict(result) for result in results],
    }
    with open(path, "w", encoding="utf-8") as file:
        json.dump(document, file, indent=2)
        file.write("\n")
