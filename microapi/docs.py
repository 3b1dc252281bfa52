"""``Api(docs=True)``: the OpenAPI document and a Swagger UI page, offline.

Three ordinary routes, left out of the document itself:

- ``GET /openapi.json`` — :meth:`Api.openapi`, the OpenAPI 3.1 document,
  which the page renders;
- ``GET /docs`` — the Swagger UI page;
- ``GET /docs/static/<file>`` — Swagger UI's script, stylesheet and icons,
  and the page's start-up script (microapi's own: the page runs no inline
  script).

NOTE: Swagger UI 5 (the first to render OpenAPI 3.1) is vendored in
``microapi/swagger_ui/`` from the ``swagger-ui-dist`` npm package, with its
licence: the Python packages that ship it either lag behind (
``swagger-ui-bundle`` has 4.15, which refuses 3.1) or bring template engines
along.  ``make swagger-ui`` updates it; the folder's README names the version.

The page's ``Content-Security-Policy`` allows exactly what it loads: scripts,
styles and the spec from the app itself, images from itself and ``data:``
URLs.  All URLs in the page are relative, so the docs work under a mount
prefix (``SCRIPT_NAME``) too.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .errors import HTTPError

if TYPE_CHECKING:
    from .app import Api
    from .request import Request
    from .response import Res
    from .routing import Route

__all__ = ["DOCS_CSP", "SWAGGER_UI_DIR", "add_docs_routes"]

#: The ``Content-Security-Policy`` of the docs page.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)

#: Where the vendored Swagger UI files are.
SWAGGER_UI_DIR = Path(__file__).with_name("swagger_ui")

# The vendored files the page may load: name → media type.
# NOTE: no charset here: res.file adds UTF-8 to text types itself.
_BUNDLE_FILES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}

# The page's start-up script.  validatorUrl: null keeps Swagger UI from
# loading a badge from validator.swagger.io (not offline, and refused by
# the policy anyway).
_INIT_JS = b"""\
"use strict";
window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
"""

_PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="docs/static/swagger-ui.css">
<link rel="icon" type="image/png" sizes="32x32" href="docs/static/favicon-32x32.png">
<link rel="icon" type="image/png" sizes="16x16" href="docs/static/favicon-16x16.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/static/swagger-ui-bundle.js"></script>
<script src="docs/static/init.js"></script>
</body>
</html>
"""

# Static files change only when the package does; revalidated by ETag.
_MAX_AGE = 3600


def _with_servers(document: dict[str, Any], req: Request) -> dict[str, Any]:
    # Under a mount prefix, "Try it out" must call the prefixed paths.
    if not req.root_path:
        return document
    # NOTE: servers goes after info, where the specification lists it.
    head = {key: document[key] for key in ("openapi", "info") if key in document}
    return head | {"servers": [{"url": quote(req.root_path)}]} | document


def add_docs_routes(api: Api) -> tuple[Route, ...]:
    """Register the docs routes on *api*; return them (to hide them)."""
    page = _PAGE.format(title=html.escape(f"{api.title} {api.version}")).encode()

    def openapi_json(req: Request, res: Res) -> None:
        res.json(_with_servers(api.openapi(), req))

    def docs_page(req: Request, res: Res) -> None:
        res.set_header("Content-Type", "text/html; charset=utf-8")
        res.set_header("Content-Security-Policy", DOCS_CSP)
        res.send(page)

    def docs_static(req: Request, res: Res) -> None:
        name: str = req.params["file"]
        if name == "init.js":
            res.set_header("Content-Type", "text/javascript; charset=utf-8")
            res.send(_INIT_JS)
            return
        mimetype = _BUNDLE_FILES.get(name)
        if mimetype is None:
            raise HTTPError(404, f"no docs file {name!r}")
        res.file(SWAGGER_UI_DIR / name, mimetype=mimetype, max_age=_MAX_AGE)

    return (
        api.add_route("/openapi.json", openapi_json, name="microapi.openapi"),
        api.add_route("/docs", docs_page, name="microapi.docs"),
        api.add_route("/docs/static/<file>", docs_static, name="microapi.docs_static"),
    )
