"""Marshmallow glue: load bodies and query strings, dump response bodies.

A route declared with ``body=``, ``query=``, ``response=`` (marshmallow
schemas) or ``status=`` gets one extra step, composed once into its chain
just before the handler (see :func:`prepare_route`), so middleware runs
first and sees the 4xx answers, and routes without these options pay
nothing:

- ``query=`` loads ``req.args`` (unknown parameters excluded) into
  ``req.query``;
- ``body=`` loads a JSON or form body (unknown fields rejected) into
  ``req.body``; any other content type is 415, an empty body 422 (an
  empty urlencoded body is the empty form, loaded as ``{}``) (GET,
  HEAD and OPTIONS requests are left alone);
- ``response=`` dumps 2xx JSON bodies through the schema before encoding;
- ``status=`` is the status of a response the handler did not give one.

A schema failure is a 422 problem whose ``errors`` member is marshmallow's
``ValidationError.messages``.  Written for marshmallow 3.20+ and 4.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields
from werkzeug.datastructures import MultiDict

from .bodies import FORM_MIMETYPES, is_json, load_json
from .errors import HTTPError
from .flatload import flat_loader
from .protocol import BODILESS_METHODS

if TYPE_CHECKING:
    from .request import Request
    from .response import Res
    from .routing import Route
    from .types import Target

__all__ = [
    "ACCEPTED_BODY_TYPES",
    "Flag",
    "ResponseDumpError",
    "SchemaLoader",
    "as_schema",
    "check_status",
    "load_body",
    "prepare_route",
]


class Flag(fields.Boolean):
    """A boolean field: JSON ``true``/``false``, or the strings ``"true"``/``"false"``.

    marshmallow's ``Boolean`` also takes ``1``, ``0``, ``"yes"``, ``"on"``...,
    which the OpenAPI document, where the field is a boolean, does not say;
    ``Flag`` takes exactly a boolean, and the two strings that forms and
    query strings carry for one::

        class TodoIn(Schema):
            done = Flag(load_default=False)
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(truthy={"true"}, falsy={"false"}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if isinstance(value, bool):
            return value
        if not isinstance(value, str):
            # NOTE: 1 == True, so 1 would be found in {True, ...}-like sets.
            raise self.make_error("invalid")
        result: bool = super()._deserialize(value, attr, data, **kwargs)
        return result


#: The media types a ``body=`` route accepts, as its 415 answer lists them.
ACCEPTED_BODY_TYPES = (
    "application/json",
    "application/*+json",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
)

# The form type whose empty body is the empty form.
_URLENCODED = "application/x-www-form-urlencoded"

# Methods whose body body= does not load: it has no meaning for them.

# Fields that take every value of a repeated form field or query parameter.
_LIST_FIELDS = (fields.List, fields.Tuple)


class ResponseDumpError(RuntimeError):
    """A ``response=`` schema failed to dump a handler's body.

    A server bug, not a client error: the request is answered with 500 and
    the traceback, naming the route, is logged on ``microapi.error``.
    """


def as_schema(value: Any, option: str, route: str) -> Schema | None:
    """Return the schema instance for a route option, made once.

    :param value: ``None``, a marshmallow :class:`~marshmallow.Schema`
        subclass (instantiated here, with no arguments), or an instance
        (used as is, so ``Schema(many=True)`` or ``Schema(partial=True)``
        keep their options).
    :param option: the option's name, for the error message.
    :param route: the route's description, for the error message.
    :raises TypeError: for anything else.
    """
    if value is None or isinstance(value, Schema):
        return value
    if isinstance(value, type) and issubclass(value, Schema):
        return value()
    raise TypeError(
        f"{route}: {option}= takes a marshmallow Schema class or instance "
        f"(such as {option}=TodoSchema or {option}=TodoSchema(many=True)), not {value!r}"
    )


def check_status(value: Any, route: str) -> int | None:
    """Validate the ``status=`` route option: ``None`` or an int, 100-599.

    :raises ValueError: for anything else.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise ValueError(f"{route}: status= must be an int from 100 to 599, not {value!r}")
    return value


def _declares_unknown(schema: Schema) -> bool:
    # NOTE: marshmallow 3 and 4 both read Meta.unknown with
    # getattr(meta, "unknown", RAISE), and the base Schema.Meta does not
    # define it (marshmallow 4 only annotates it), so hasattr() tells a
    # schema that chose.  An instance made with unknown=... differs from
    # its opts; one made with the same value as its Meta cannot be told
    # apart, and needs no telling.
    return hasattr(type(schema).Meta, "unknown") or schema.unknown != schema.opts.unknown


def _messages(messages: Any) -> dict[Any, Any]:
    # Loading yields a dict ({field: [messages]}, {index: {...}} for
    # many=True); a bare message from a custom hook becomes _schema's.
    if isinstance(messages, dict):
        return messages
    return {"_schema": messages if isinstance(messages, list) else [messages]}


class SchemaLoader:
    """A schema prepared for loading request data, once per route.

    :param schema: the schema instance.
    :param unknown: what to do with unknown keys (marshmallow's ``RAISE``,
        ``EXCLUDE`` or ``INCLUDE``) when the schema does not say, in its
        ``Meta.unknown`` or its constructor.
    :param what: the loaded thing, for 422 details (``"request body"``).
    """

    __slots__ = ("fast", "invalid", "list_keys", "schema", "unknown", "what")

    def __init__(self, schema: Schema, unknown: str, what: str) -> None:
        #: The schema instance.
        self.schema = schema
        #: ``unknown=`` for ``schema.load``: ``None`` when the schema chose
        #: for itself (marshmallow 3 and 4 then use the schema's own).
        # PERF: a keyword, not ``**kwargs`` (-0.09 µs per load).  NOTE: Any,
        # as marshmallow 4 types unknown= as a Literal and 3 as a str.
        self.unknown: Any = None if _declares_unknown(schema) else unknown
        #: The flat schemas' fast load (:mod:`microapi.flatload`), or ``None``.
        self.fast = flat_loader(schema, self.unknown)
        #: Keys (``data_key`` or attribute name) of list fields: they take
        #: every value of a repeated form field or query parameter.
        self.list_keys = frozenset(
            name if field.data_key is None else field.data_key
            for name, field in schema.load_fields.items()
            if isinstance(field, _LIST_FIELDS)
        )
        #: What is loaded, for messages.
        self.what = what
        #: The 422 detail, formatted once.
        self.invalid = f"the {what} is invalid"

    def from_multidict(self, data: MultiDict[str, Any]) -> dict[str, Any]:
        """Turn a form or query ``MultiDict`` into the dict to load.

        List fields get every value, other keys their first value.
        """
        list_keys = self.list_keys
        return {
            key: values if key in list_keys else values[0] for key, values in data.lists() if values
        }

    def load(self, data: Any) -> Any:
        """Load *data* with the schema.

        :raises HTTPError: 422 with ``errors`` = marshmallow's messages.
        """
        try:
            if self.fast is not None and type(data) is dict:
                value, errors = self.fast(data)
                if errors is None:
                    return value
            else:
                return self.schema.load(data, unknown=self.unknown)
        except ValidationError as exc:
            errors = _messages(exc.messages)
        except RecursionError:
            # NOTE: a self-nesting schema recurses a few frames per level, so
            # JSON well within the 512-level limit can exhaust the stack:
            # the client's input, not a server bug.
            errors = {"_schema": ["Nested too deeply."]}
        # PERF: raised outside the except blocks, so the 422 carries no
        # context to chain, suppress or keep alive.
        raise HTTPError(422, self.invalid, errors=errors)


def load_body(req: Request, loader: SchemaLoader) -> Any:
    """Parse and load the body of *req* for a ``body=`` route.

    :raises HTTPError: 422 for an empty body (except an empty urlencoded
        form, loaded as ``{}``) or a schema failure, 415 for
        a content type that is neither JSON nor a form; parsing raises 400
        (malformed) and 413 (too large) as ``req.body`` does.
    """
    mimetype = req.mimetype
    data = req.get_data()
    # PERF: the content type and the body read once; JSON, the usual body,
    # tested first and decoded here rather than through parse_body.
    if mimetype == "application/json" or is_json(mimetype):
        if data:
            return loader.load(load_json(data))
    elif mimetype in FORM_MIMETYPES:
        # NOTE: an empty urlencoded body is the empty form, the encoding of
        # ``{}``: it is loaded like any form, so a schema whose fields are all
        # optional accepts it (as it accepts JSON ``{}``) and one with required
        # fields answers 422 naming them.  Empty JSON, multipart or untyped
        # bodies encode nothing at all.
        if data or mimetype == _URLENCODED:
            form = req.form
            try:
                return loader.load(loader.from_multidict(form))
            except HTTPError as exc:
                exc.description = _form_detail(exc.description, mimetype, form)
                raise
    elif data:
        sent = f"content type {mimetype!r}" if mimetype else "a body without a content type"
        raise HTTPError(
            415, f"{sent} is not accepted; send one of: {', '.join(ACCEPTED_BODY_TYPES)}"
        )
    raise HTTPError(
        422, "the request body is empty", errors={"_schema": ["A request body is required."]}
    )


def _form_detail(detail: str | None, mimetype: str, form: MultiDict[str, Any]) -> str:
    """A form's 422 detail, saying the body was read as a form (and why that may be wrong)."""
    # NOTE: the usual cause of a form failing a JSON schema is JSON sent with a
    # form's content type (curl -d, fetch() with a string body and no header):
    # its fields then read as one field named by the whole JSON text.
    if any(key.lstrip()[:1] in ("{", "[") for key in form):
        return (
            f"{detail}: the body looks like JSON but was sent as {mimetype}; "
            "send it with Content-Type: application/json"
        )
    return f"{detail} (read as form fields, as sent: {mimetype}; JSON needs application/json)"


def _dumping_json(res: Res, schema: Schema, route: Route) -> Callable[[Any], Res]:
    send = res.json  # the class's method, bound before it is shadowed

    def json(value: Any) -> Res:
        if 200 <= res._status < 300:
            try:
                value = schema.dump(value)
            except Exception as exc:
                raise ResponseDumpError(
                    f"route {route.name!r} ({route.path}): response schema "
                    f"{type(schema).__name__} could not dump a {type(value).__name__} body: "
                    f"{exc!r}"
                ) from exc
        return send(value)

    return json


def prepare_route(route: Route) -> Target | None:
    """Build the step run before *route*'s handler, or ``None`` if it needs none.

    Composed once, when the route's chain is; the step loads the query
    string and the body, makes ``res.json`` dump 2xx bodies through the
    ``response=`` schema, and sets the ``status=`` default, in that order.
    """
    query = None if route.query is None else SchemaLoader(route.query, EXCLUDE, "query string")
    body = None if route.body is None else SchemaLoader(route.body, RAISE, "request body")
    schema: Schema | None = route.response
    status: int | None = route.status
    steps: list[Target] = []
    if query is not None:

        def load_query(req: Request, res: Res) -> None:
            req.__dict__["query"] = query.load(query.from_multidict(req.args))

        steps.append(load_query)
    if body is not None:

        def load_request_body(req: Request, res: Res) -> None:
            # NOTE: a GET or HEAD body has no meaning (RFC 9110), so a route
            # that serves GET and POST with one handler validates POSTs only.
            if req.method not in BODILESS_METHODS:
                req.__dict__["body"] = load_body(req, body)

        steps.append(load_request_body)
    if schema is not None:

        def dump_response(req: Request, res: Res) -> None:
            # PERF: an instance attribute shadows Res.json for this request
            # only, so routes without response= keep the plain method (and
            # res.send, return values and tuples all go through res.json).
            res.__dict__["json"] = _dumping_json(res, schema, route)

        steps.append(dump_response)
    if status is not None:

        def default_status(req: Request, res: Res) -> None:
            res._status = status

        steps.append(default_status)
    if not steps:
        return None
    if len(steps) == 1:
        return steps[0]
    return _run_all(query, body, schema, status, route)


def _run_all(
    query: SchemaLoader | None,
    body: SchemaLoader | None,
    schema: Schema | None,
    status: int | None,
    route: Route,
) -> Target:
    # PERF: two or more steps (body= with status= is the usual pair) run
    # in one function, the steps above inlined: no loop, one call instead
    # of three (-0.1 µs).  Keep it in step with them.
    def run(req: Request, res: Res) -> None:
        if query is not None:
            req.__dict__["query"] = query.load(query.from_multidict(req.args))
        if body is not None and req.method not in BODILESS_METHODS:
            req.__dict__["body"] = load_body(req, body)
        if schema is not None:
            res.__dict__["json"] = _dumping_json(res, schema, route)
        if status is not None:
            res._status = status

    return run
