"""The OpenAPI 3.1 document of an ``Api``, built with apispec.

:func:`build_spec` describes every route and declared method (the automatic
``HEAD`` and ``OPTIONS`` answers are left out) from what the routes declare:

- **Paths**: the werkzeug rule, with ``<int:id>`` written ``{id}``.  An
  optional catch-all (``/docs/[[...slug]]``) is two paths, ``/docs`` and
  ``/docs/{slug}``, because OpenAPI path parameters are always required.
- **Path parameters**, typed from the rule's converters:

  ======================================  ==========================================
  converter                               schema
  ======================================  ==========================================
  ``int``                                 ``integer`` (``min``/``max`` kept; ``minimum: 0``
                                          unless ``signed=True``)
  ``float``                               ``number`` (likewise)
  ``uuid``                                ``string``, ``format: uuid``
  ``any(a, b)``                           ``string``, ``enum: [a, b]``
  default, ``string``, ``[id]``           ``string``
  ``path``, ``[...slug]``, ``[[...slug]]``  ``string``: OpenAPI cannot express a
                                          parameter spanning several segments, so
                                          the value is one string that may hold
                                          ``/`` (handlers still get a list for
                                          the Next.js catch-alls)
  any other converter                     ``string``
  ======================================  ==========================================

- **Query parameters** from ``query=`` schemas, **request bodies** from
  ``body=`` schemas (``application/json``,
  ``application/x-www-form-urlencoded`` and ``multipart/form-data``: what
  :mod:`microapi.validation` loads; not for ``GET``/``HEAD``/``OPTIONS``,
  whose bodies it leaves alone), **the success response** under the
  route's ``status=`` (default ``200``; ``204`` has no content) with the
  ``response=`` schema as ``application/json`` when one is declared.
- **Error responses**, ``application/problem+json`` with the shared
  ``Problem`` component, for the errors the framework itself can answer
  for that operation:

  - ``400`` when the operation reads a body (malformed JSON or form) or
    loads a ``query=`` schema (a query string that is not UTF-8);
  - ``404`` when the path has parameters (a converter refuses a value);
  - ``405`` always (another method on the same path);
  - ``413`` when the operation reads a body;
  - ``415`` when it loads a ``body=`` schema;
  - ``422`` when it loads a ``body=`` or ``query=`` schema.

  An operation "reads a body" when it loads a ``body=`` schema or its
  method is ``POST``, ``PUT`` or ``PATCH``.  Errors a handler raises
  itself are its own to document.
- **Security**: the schemes the route's middleware declare
  (:mod:`microapi.securitydoc`; ``bearer_auth`` and ``csrf`` do) go into
  ``components.securitySchemes``, and each operation they check gets its
  ``security`` alternatives.
- ``operationId`` is the route name, with ``_get``, ``_post``, ... added
  when one name serves several methods; ``summary`` and ``description``
  are the first line and the rest of the handler's docstring; ``tags`` are
  the ``Router(tags=[...])`` of the route, else its first path segment.

Keys follow the specification's order (``openapi``, ``info``, ``servers``,
``paths``, ``components``; in an operation ``tags`` to ``security``).
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from marshmallow import Schema
from werkzeug.routing import (
    AnyConverter,
    BaseConverter,
    FloatConverter,
    IntegerConverter,
    PathConverter,
    UUIDConverter,
)
from werkzeug.routing.converters import NumberConverter

from .errors import PROBLEM_CONTENT_TYPE
from .protocol import BODILESS_METHODS
from .routing.syntax import parse_rule
from .securitydoc import operation_responses, operation_security

if TYPE_CHECKING:
    from werkzeug.routing import Rule

    from .app import Api
    from .routing import Route

__all__ = ["BODY_CONTENT_TYPES", "OPENAPI_VERSION", "PROBLEM_SCHEMA", "build_spec"]

#: The OpenAPI version :func:`build_spec` writes by default.
OPENAPI_VERSION = "3.1.0"

#: The request body media types of a ``body=`` operation.
BODY_CONTENT_TYPES = (
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
)

#: The ``Problem`` component: RFC 9457 problem details, as
#: :func:`microapi.errors.to_problem` renders them.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string", "description": "A URI identifying the problem type."},
        "title": {"type": "string", "description": "A short summary of the problem type."},
        "status": {"type": "integer", "description": "The HTTP status code."},
        "detail": {"type": "string", "description": "What went wrong with this request."},
        "errors": {
            "type": "object",
            "description": (
                "On 422: the invalid fields and their messages, nested as the "
                "schema's fields are (marshmallow's ValidationError.messages)."
            ),
            "additionalProperties": True,
        },
    },
    "required": ["type", "title", "status"],
    # Problem types may add members (RFC 9457 extensions).
    "additionalProperties": True,
}

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

# What each generated error response says.
_ERRORS = {
    400: "Malformed request: the body or query string cannot be parsed.",
    404: "No such resource: a path parameter was refused.",
    405: "Method not allowed on this path (see the Allow header).",
    413: "The request body is larger than the route's limit.",
    415: "Unsupported body content type.",
    422: "The request failed validation; errors lists the fields.",
}

# Methods that carry a body for microapi.validation, and those that usually do.
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_ORDER = ("GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH")
_NameResolver = Callable[[type[Schema]], str]
# werkzeug's ``<converter(arguments):name>``.
# The conventional key orders (the OpenAPI specification's own): apispec
# writes keys in the order it fills them in.
_DOCUMENT_KEYS = ("openapi", "info", "jsonSchemaDialect", "servers", "paths", "webhooks")
_OPERATION_KEYS = (
    "tags",
    "summary",
    "description",
    "externalDocs",
    "operationId",
    "parameters",
    "requestBody",
    "responses",
    "callbacks",
    "deprecated",
    "security",
    "servers",
)
_PARAM = re.compile(r"<(?:[A-Za-z_][A-Za-z0-9_]*(?:\(.*?\))?:)?([A-Za-z_][A-Za-z0-9_]*)>")


def build_spec(api: Api, *, openapi_version: str = OPENAPI_VERSION) -> dict[str, Any]:
    """Build the OpenAPI document of *api* as a dict.

    :param api: the app; its routes are read, nothing is changed.
    :param openapi_version: ``"3.1.0"``, or ``"3.0.3"`` for tools that
        predate 3.1 (the docs page uses it for the bundled Swagger UI);
        apispec writes the schemas for that version.
    """
    spec = APISpec(
        title=api.title,
        version=api.version,
        openapi_version=openapi_version,
        # NOTE: apispec's annotation says str, but it documents (and
        # handles) None as "write this schema inline".
        plugins=[MarshmallowPlugin(schema_name_resolver=cast(_NameResolver, _Resolver()))],
    )
    spec.components.schema("Problem", PROBLEM_SCHEMA)
    hidden = {id(route) for route in api._hidden_routes}
    # NOTE: the table's entries hold the rules werkzeug compiled, with the
    # converter instances; an optional catch-all has two.
    entries = [entry for entry in api._table.entries if id(entry.route) not in hidden]
    operation_ids = _operation_ids([entry.route for entry in entries])
    paths: dict[str, dict[str, Any]] = {}
    parameters: dict[str, list[dict[str, Any]]] = {}
    schemes: dict[str, dict[str, Any]] = {}
    for entry in entries:
        route = entry.route
        path, path_params = _path(entry.rule)
        operations = paths.setdefault(path, {})
        parameters.setdefault(path, path_params)
        for method in _methods(route):
            # NOTE: two rules can render as one path (<int:id> and <id>);
            # werkzeug tries the first registered first, so it describes it.
            if method.lower() in operations:
                continue
            middleware = [spec.func for spec in api.middleware_for(route)]
            answered = operation_responses(middleware, method)
            operation = _operation(route, method, bool(path_params), answered)
            operation["operationId"] = operation_ids[route.name, method]
            if len(route.spec.rules) > 1 and not path_params:
                # The optional catch-all without its segments: same name.
                operation["operationId"] += "_root"
            security = operation_security(api, middleware, method, schemes)
            if security is not None:
                operation["security"] = security
            operations[method.lower()] = operation
    for path, operations in paths.items():
        if operations:
            spec.path(path=path, operations=operations, parameters=parameters[path])
    for name in sorted(schemes):
        spec.components.security_scheme(name, schemes[name])
    return _conventional_order(spec.to_dict())


def _conventional_order(document: dict[str, Any]) -> dict[str, Any]:
    """*document* with its keys and its operations' keys in the usual order."""
    for path_item in document.get("paths", {}).values():
        for method, operation in path_item.items():
            if method != "parameters":
                path_item[method] = _ordered(operation, _OPERATION_KEYS)
    return _ordered(document, _DOCUMENT_KEYS)


def _ordered(mapping: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    # Known keys first, in the given order; the rest (components, x-...) after.
    first = {key: mapping[key] for key in keys if key in mapping}
    return first | {key: value for key, value in mapping.items() if key not in first}


def _methods(route: Route) -> list[str]:
    # route.methods holds the declared methods only: the automatic HEAD and
    # OPTIONS answers are not operations, a declared HEAD or OPTIONS is.
    return sorted(route.methods, key=_ORDER.index)


def _operation_ids(routes: list[Route]) -> dict[tuple[str, str], str]:
    methods: dict[str, set[str]] = {}
    for route in routes:
        methods.setdefault(route.name, set()).update(route.methods)
    ids: dict[tuple[str, str], str] = {}
    for name, served in methods.items():
        for method in served:
            ids[name, method] = name if len(served) == 1 else f"{name}_{method.lower()}"
    return ids


def _path(rule: Rule) -> tuple[str, list[dict[str, Any]]]:
    """The OpenAPI path of a werkzeug *rule*, and its path parameters."""
    path = _PARAM.sub(r"{\1}", rule.rule)
    converters: dict[str, BaseConverter] = parse_rule(rule).converters
    params = [
        {"name": name, "in": "path", "required": True, **_param_schema(converter)}
        for name, converter in converters.items()
    ]
    return path, params


def _param_schema(converter: BaseConverter) -> dict[str, Any]:
    schema: dict[str, Any]
    if isinstance(converter, NumberConverter):
        schema = {"type": "integer" if isinstance(converter, IntegerConverter) else "number"}
        minimum = converter.min if converter.min is not None else None
        if minimum is None and not converter.signed:
            minimum = 0
        if minimum is not None:
            schema["minimum"] = minimum
        if converter.max is not None:
            schema["maximum"] = converter.max
        if isinstance(converter, FloatConverter):
            schema["format"] = "double"
    elif isinstance(converter, UUIDConverter):
        schema = {"type": "string", "format": "uuid"}
    elif isinstance(converter, AnyConverter):
        schema = {"type": "string", "enum": sorted(converter.items)}
    elif isinstance(converter, PathConverter):
        return {
            "schema": {"type": "string"},
            "description": "One or more path segments, separated by '/'.",
        }
    else:
        schema = {"type": "string"}
    return {"schema": schema}


def _operation(
    route: Route, method: str, has_params: bool, answered: Mapping[int, str]
) -> dict[str, Any]:
    """One operation; *answered*: the statuses its middleware declares."""
    operation: dict[str, Any] = {}
    summary, description = _docstring(route.handler)
    if summary:
        operation["summary"] = summary
    if description:
        operation["description"] = description
    tags = list(route.tags) or _first_segment(route.path)
    if tags:
        operation["tags"] = tags
    loads_body = route.body is not None and method not in BODILESS_METHODS
    reads_body = loads_body or method in _BODY_METHODS
    if route.query is not None:
        operation["parameters"] = [{"in": "query", "schema": route.query}]
    if loads_body:
        operation["requestBody"] = {
            "required": True,
            "content": {media: {"schema": route.body} for media in BODY_CONTENT_TYPES},
        }
    status = route.status or 200
    success: dict[str, Any] = {"description": HTTPStatus(status).phrase}
    if route.response is not None and status not in (204, 304):
        success["content"] = {"application/json": {"schema": route.response}}
    responses: dict[str, Any] = {str(status): success}
    errors = {405}
    if reads_body or route.query is not None:
        errors.add(400)
    if has_params:
        errors.add(404)
    if reads_body:
        errors.add(413)
    if loads_body:
        errors.update({415, 422})
    if route.query is not None:
        errors.add(422)
    # NOTE: the route's own word on a status first, then microapi's, then
    # its middleware's.
    described = dict(answered) | {code: _ERRORS[code] for code in errors} | dict(route.responses)
    for code in sorted(described.keys() - {status}):
        responses[str(code)] = {"description": described[code]}
        if code >= 400:
            responses[str(code)]["content"] = {PROBLEM_CONTENT_TYPE: {"schema": _PROBLEM_REF}}
    operation["responses"] = responses
    return operation


def _docstring(handler: Callable[..., Any]) -> tuple[str, str]:
    while isinstance(handler, functools.partial):
        # A partial's own docstring describes functools.partial.
        handler = handler.func
    doc = inspect.getdoc(handler) or ""
    summary, _, rest = doc.partition("\n")
    return summary.strip(), rest.strip()


def _first_segment(path: str) -> list[str]:
    segment = path.lstrip("/").split("/", 1)[0]
    # A parameter is no name for a group of operations.
    if not segment or "<" in segment or "[" in segment:
        return []
    return [segment]


class _Resolver:
    """Component names for marshmallow schemas, unique per document.

    Named after the class without its ``Schema`` suffix; a second class
    with the same name gets its module path too.  Instances made with
    ``only=``, ``exclude=``, ``partial=``, ``load_only=`` or ``dump_only=``
    differ from their class, so they are written inline rather than under
    the class's name (apispec would warn and number them).
    """

    def __init__(self) -> None:
        self._names: dict[str, type[Schema]] = {}

    def __call__(self, schema: type[Schema] | Schema) -> str | None:
        if isinstance(schema, Schema) and (
            schema.only is not None
            or schema.exclude
            or schema.partial
            or schema.load_only
            or schema.dump_only
        ):
            return None
        resolved = resolve_schema_cls(schema)
        cls = resolved[0] if isinstance(resolved, list) else resolved
        name = cls.__name__.removesuffix("Schema") or cls.__name__
        taken = self._names.setdefault(name, cls)
        if taken is not cls:
            name = f"{cls.__module__}.{cls.__qualname__}".replace("<", "").replace(">", "")
            self._names.setdefault(name, cls)
        return name
