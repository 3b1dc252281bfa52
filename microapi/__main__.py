"""``python -m microapi``: the ``microapi`` command; see :mod:`microapi.cli`."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
