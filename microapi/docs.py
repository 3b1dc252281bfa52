"""``Api(docs=True)``: the OpenAPI document and a Swagger UI page, offline.

Four ordinary routes, left out of the document itself:

- ``GET /openapi.json`` — :meth:`Api.openapi`, the OpenAPI 3.1 document;
- ``GET /docs`` — the Swagger UI page;
- ``GET /docs/static/<file>`` — Swagger UI's script, stylesheet and icons
  from the ``swagger-ui-bundle`` package, and the page's start-up script
  (microapi's own: the page runs no inline script);
- ``GET /docs/openapi-3.0.json`` — the same document written for OpenAPI
  3.0.3, which the page renders.

NOTE: ``swagger-ui-bundle`` 1.1.0, the newest release, ships Swagger UI
4.15.5, which refuses ``openapi: 3.1.0`` documents ("Unable to render this
definition"); 3.1 support came with Swagger UI 5.  apispec writes the 3.0.3
rendition from the same routes and schemas, so the page shows what
``/openapi.json`` says.

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
from .extras import install_hint

if TYPE_CHECKING:
    from .app import Api
    from .request import Request
    from .response import Res
    from .routing import Route

__all__ = ["DOCS_CSP", "add_docs_routes"]

#: The ``Content-Security-Policy`` of the docs page.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)

# Files served from the swagger-ui-bundle package: name → media type.  NOTE:
# no charset: werkzeug's send_file adds "; charset=utf-8" to text/* itself.
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
  url: "docs/openapi-3.0.json",
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


def _bundle_dir() -> Path:
    try:
        from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]
    except ImportError:
        raise RuntimeError(
            "Api(docs=True) serves Swagger UI from the swagger-ui-bundle package; "
            f"install it with: {install_hint('docs')}"
        ) from None
    return Path(str(swagger_ui_path))


def _with_servers(document: dict[str, Any], req: Request) -> dict[str, Any]:
    # Under a mount prefix, "Try it out" must call the prefixed paths.
    if not req.root_path:
        return document
    return {**document, "servers": [{"url": quote(req.root_path)}]}


def add_docs_routes(api: Api) -> tuple[Route, ...]:
    """Register the docs routes on *api*; return them (to hide them).

    :raises RuntimeError: when ``swagger-ui-bundle`` is not installed.
    """
    from .openapi import build_spec

    bundle = _bundle_dir()
    page = _PAGE.format(title=html.escape(f"{api.title} {api.version}")).encode()
    rendition: dict[str, Any] = {}

    def openapi_json(req: Request, res: Res) -> None:
        res.json(_with_servers(api.openapi(), req))

    def docs_page(req: Request, res: Res) -> None:
        res.set_header("Content-Type", "text/html; charset=utf-8")
        res.set_header("Content-Security-Policy", DOCS_CSP)
        res.send(page)

    def docs_spec(req: Request, res: Res) -> None:
        # Built at the first request, when the routes are final.
        if not rendition:
            rendition.update(build_spec(api, openapi_version="3.0.3"))
        res.json(_with_servers(rendition, req))

    def docs_static(req: Request, res: Res) -> None:
        name: str = req.params["file"]
        if name == "init.js":
            res.set_header("Content-Type", "text/javascript; charset=utf-8")
            res.send(_INIT_JS)
            return
        mimetype = _BUNDLE_FILES.get(name)
        if mimetype is None:
            raise HTTPError(404, f"no docs file {name!r}")
        res.file(bundle / name, mimetype=mimetype, max_age=_MAX_AGE)

    return (
        api.add_route("/openapi.json", openapi_json, name="microapi.openapi"),
        api.add_route("/docs", docs_page, name="microapi.docs"),
        api.add_route("/docs/openapi-3.0.json", docs_spec, name="microapi.docs_spec"),
        api.add_route("/docs/static/<file>", docs_static, name="microapi.docs_static"),
    )
