"""The distribution's name and its optional extras, named once for every error message.

microapi is imported as ``microapi`` but published as :data:`DISTRIBUTION`
(the name ``microapi`` on the package index belongs to another project).
Features that need a package outside the core dependencies check for it
when they are set up (an ``Api`` built, a store constructed, a server
started), never at the first request, and raise :class:`MissingExtra`
naming the extra that installs it::

    MissingExtra: RedisStore needs the redis package: pip install "microapi-wsgi[redis]"
"""

from __future__ import annotations

import importlib.util

__all__ = ["DISTRIBUTION", "EXTRAS", "MissingExtra", "install_hint", "require"]

#: The name to ``pip install`` (``setup.cfg``'s ``name``).
DISTRIBUTION = "microapi-wsgi"

#: Feature → the extra of :data:`DISTRIBUTION` that installs it (``setup.cfg``'s
#: ``extras_require`` keys; a test keeps the two in step).
EXTRAS = {
    "redis": "redis",
    "proxy": "proxy",
    "docs": "docs",
    "db": "db",
    "orjson": "orjson",
    "granian": "granian",
}


class MissingExtra(ImportError):
    """A feature's optional package is not installed; the message names the extra."""


def install_hint(feature: str) -> str:
    """The command that installs *feature*'s extra: ``pip install "microapi-wsgi[redis]"``."""
    return f'pip install "{DISTRIBUTION}[{EXTRAS[feature]}]"'


def require(module: str, feature: str, user: str) -> None:
    """Check that *module* is installed for *user* (what needs it), without importing it.

    Not importing keeps apps that only construct the feature (at import
    time, before gunicorn forks) from paying for the package until it is
    used.

    :param module: the top-level module the feature imports, e.g. ``"redis"``.
    :param feature: the key of :data:`EXTRAS` that installs it.
    :param user: what needs it, for the message, e.g. ``"RedisStore"``.
    :raises MissingExtra: when *module* is not installed.
    """
    if importlib.util.find_spec(module) is None:
        raise MissingExtra(
            f"{user} needs the {module} package, which is not installed: {install_hint(feature)}",
            name=module,
        )
