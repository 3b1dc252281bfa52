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

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, missing
from marshmallow.exceptions import SCHEMA
from werkzeug.datastructures import MultiDict

from .bodies import FORM_MIMETYPES, is_json, load_json
from .errors import HTTPError
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


# -- the fast load of flat, hook-free schemas ---------------------------------
# A faster Schema.load for the schemas most routes declare: flat and hook-free.
#
# marshmallow's Schema.load spends most of its time around the fields rather
# than in them: an error store, option resolution, hook checks, a getter
# closure per field and a set difference for unknown keys. For a schema with
# no hooks, no partial/many, plain dict results and unknown keys raised or
# excluded, all of that reduces to one loop over the fields that calls each
# field's own deserialize (its type conversion, validators, required,
# allow_none, load_default, nested schemas: everything that decides a value or
# an error stays marshmallow's). flat_loader builds that loop once per route;
# anything else returns None and SchemaLoader calls schema.load.
#
# The results and error messages are marshmallow's own, key order included;
# tests/test_validation.py compares them with schema.load on generated schemas
# and inputs. Measured on the benchmark's two-field schema: a valid body 3.8 →
# 1.4 µs, an invalid one 11.0 → 5.6 µs.

#: ``load(data) -> (result, None)`` or ``(None, errors)``, where *errors* is
#: what ``ValidationError.messages`` would be.  *data* must be a ``dict``.
FlatLoad = Callable[[dict[str, Any]], tuple[Any, Any]]

# The Schema methods on the load path: a subclass overriding one of them
# may do anything, so it keeps marshmallow's own load.
_LOAD_PATH = (
    "load",
    "_do_load",
    "_deserialize",
    "_call_and_store",
    "_invoke_field_validators",
    "_invoke_schema_validators",
    "_invoke_load_processors",
    "handle_error",
)


def _copy_messages(messages: Any) -> Any:
    # As marshmallow's error store does: the 422 gets its own lists and dicts,
    # never a validator's.
    if isinstance(messages, list):
        return [_copy_messages(message) for message in messages]
    if isinstance(messages, dict):
        return {key: _copy_messages(message) for key, message in messages.items()}
    return messages


def _is_flat(schema: Schema) -> bool:
    cls = type(schema)
    if any(getattr(cls, name, None) is not getattr(Schema, name) for name in _LOAD_PATH):
        return False
    # NOTE: _hooks is marshmallow's (3 and 4) registry of pre/post_load,
    # validates and validates_schema methods; without it, stay safe.
    hooks = getattr(schema, "_hooks", None)
    return (
        isinstance(hooks, dict)
        and not any(hooks.values())
        and not schema.many
        and (schema.partial is None or schema.partial is False)
        and schema.dict_class is dict
    )


def flat_loader(schema: Schema, unknown: Any) -> FlatLoad | None:
    """Build the fast load of *schema*, or ``None`` when it needs marshmallow's own.

    :param schema: the schema instance.
    :param unknown: the ``unknown=`` passed to ``schema.load``; ``None`` for
        the schema's own.
    """
    unknown = schema.unknown if unknown is None else unknown
    if unknown not in (RAISE, EXCLUDE) or not _is_flat(schema):
        return None
    plan: list[tuple[str, str, Any]] = []
    for name, field in schema.load_fields.items():
        key = field.data_key if field.data_key is not None else name
        attribute = field.attribute or name
        # A dotted attribute is a nested set; a "_schema" key merges its
        # messages with the schema's; both take marshmallow's own paths.
        if "." in attribute or key == SCHEMA:
            return None
        deserialize = field.deserialize
        if schema.partial is False:
            # marshmallow passes an explicit partial=False down (nested
            # schemas then ignore their own partial): so do we.
            deserialize = functools.partial(deserialize, partial=False)
        plan.append((attribute, key, deserialize))
    keys = {key for _, key, _ in plan}
    if len(keys) != len(plan):  # two load-only fields may share a data_key
        return None
    steps = tuple(plan)
    count = len(keys)
    raise_unknown = unknown == RAISE
    unknown_message = schema.error_messages["unknown"]

    def load(data: dict[str, Any]) -> tuple[Any, Any]:
        result: dict[str, Any] = {}
        errors: dict[Any, Any] | None = None
        for attribute, key, deserialize in steps:
            try:
                value = deserialize(data.get(key, missing), key, data)
            except ValidationError as error:
                if errors is None:
                    errors = {}
                messages = error.messages
                # PERF: one message, the usual case, copied without the
                # recursion (-0.12 µs a field).
                errors[key] = (
                    [messages[0]]
                    if type(messages) is list and len(messages) == 1 and type(messages[0]) is str
                    else _copy_messages(messages)
                )
                continue
            if value is not missing:
                result[attribute] = value
        # PERF: no set arithmetic when every key is a field's.
        if raise_unknown and (len(data) > count or not keys.issuperset(data)):
            # NOTE: the same expression as marshmallow's, for the same order.
            for key in set(data) - keys:
                if errors is None:
                    errors = {}
                errors[key] = [unknown_message]
        if errors is not None:
            return None, errors
        return result, None

    return load


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
        #: The flat schemas' fast load (:func:`flat_loader`), or ``None``.
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


def _response_dump(schema: Schema, route: Route) -> Callable[[Any], Any]:
    """*route*'s ``res._dump``: the ``response=`` schema's dump, its failures named."""

    def dump(value: Any) -> Any:
        try:
            return schema.dump(value)
        except Exception as exc:
            raise ResponseDumpError(
                f"route {route.name!r} ({route.path}): response schema "
                f"{type(schema).__name__} could not dump a {type(value).__name__} body: "
                f"{exc!r}"
            ) from exc

    return dump


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
            req.query = query.load(query.from_multidict(req.args))

        steps.append(load_query)
    if body is not None:

        def load_request_body(req: Request, res: Res) -> None:
            # NOTE: a GET or HEAD body has no meaning (RFC 9110), so a route
            # that serves GET and POST with one handler validates POSTs only.
            if req.method not in BODILESS_METHODS:
                req.body = load_body(req, body)

        steps.append(load_request_body)
    dump = None if schema is None else _response_dump(schema, route)
    if dump is not None:

        def dump_response(req: Request, res: Res) -> None:
            # res.send, return values and tuples all go through res.json,
            # which applies it.
            res._dump = dump

        steps.append(dump_response)
    if status is not None:

        def default_status(req: Request, res: Res) -> None:
            res._status = status

        steps.append(default_status)
    if not steps:
        return None
    if len(steps) == 1:
        return steps[0]
    return _run_all(query, body, dump, status)


def _run_all(
    query: SchemaLoader | None,
    body: SchemaLoader | None,
    dump: Callable[[Any], Any] | None,
    status: int | None,
) -> Target:
    # PERF: two or more steps (body= with status= is the usual pair) run
    # in one function, the steps above inlined: no loop, one call instead
    # of three (-0.1 µs).  Keep it in step with them.
    def run(req: Request, res: Res) -> None:
        if query is not None:
            req.query = query.load(query.from_multidict(req.args))
        if body is not None and req.method not in BODILESS_METHODS:
            req.body = load_body(req, body)
        if dump is not None:
            res._dump = dump
        if status is not None:
            res._status = status

    return run
