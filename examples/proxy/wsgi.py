"""External APIs behind API routes, the keys kept on the server.

The Next.js article's "indirect proxy" (``app/api/openai/route.ts``) and a
weather lookup, with :func:`microapi.proxy.forward`::

    WEATHER_API_KEY=... OPENAI_API_KEY=... gunicorn examples.proxy.wsgi:api
    curl 'http://127.0.0.1:8000/api/weather?city=Tokyo'
    curl -X POST http://127.0.0.1:8000/api/chat -H 'Content-Type: application/json' \\
         -d '{"prompt": "Say hello"}'

Settings come from the environment: ``WEATHER_API_KEY`` and
``OPENAI_API_KEY`` (required), ``WEATHER_API_URL``, ``OPENAI_API_URL``,
``OPENAI_MODEL``, ``WEATHER_API_TIMEOUT`` and ``OPENAI_API_TIMEOUT``
(seconds).  The client never sees a key, and an upstream that is down or
slow is a 502 or 504 problem that does not name it.
"""

from __future__ import annotations

import logging
import os

from marshmallow import Schema, fields, validate

from microapi import Api, HTTPError, Request, Res
from microapi.jsonutil import dumps
from microapi.proxy import forward
from microapi.validation import Flag

api = Api()
log = logging.getLogger("examples.proxy")

DEFAULT_WEATHER_API_URL = "https://api.openweathermap.org/data/2.5/weather"
DEFAULT_OPENAI_API_URL = "https://api.openai.com/v1/chat/completions"
UNITS = ("metric", "imperial", "standard")


# NOTE: settings are read per request (a dictionary lookup), so the tests can
# point the example at a local stub without re-importing it.
def setting(name: str, default: str) -> str:
    """The environment variable *name*, or *default*."""
    return os.environ.get(name) or default


def secret(name: str) -> str:
    """The API key in environment variable *name*; 503 when it is unset."""
    value = os.environ.get(name, "").strip()  # a key pasted with its newline
    if not value:
        log.error("%s is not set: the routes that need it answer 503", name)
        raise HTTPError(503, "this service is not configured")
    return value


def timeout(name: str, default: float) -> float:
    """Seconds to wait for an upstream to connect, and for each read."""
    return float(setting(name, str(default)))


#: What a route that forwards upstream may answer besides its own errors.
UPSTREAM_RESPONSES = {
    502: "The upstream API is unreachable.",
    503: "This service is not configured (no API key).",
    504: "The upstream API did not answer in time.",
}
REQUIRED = dict.fromkeys(("required", "null", "invalid"), "required")
NON_EMPTY = dict.fromkeys(("required", "null", "invalid"), "must be a non-empty string")


def text(longest: int, empty: str) -> list[validate.Validator]:
    """A string's checks: not empty (*empty* says so), at most *longest* characters."""
    return [
        validate.Length(min=1, error=empty),
        validate.Length(max=longest, error="at most {max} characters"),
    ]


class WeatherQuery(Schema):
    """``city`` (required) and ``units``."""

    city = fields.Str(required=True, validate=text(200, "required"), error_messages=REQUIRED)
    units = fields.Str(
        load_default="metric", validate=validate.OneOf(UNITS, error="must be one of {choices}")
    )


class ChatIn(Schema):
    """``prompt`` (required), and ``stream``: a boolean, default ``false``."""

    prompt = fields.Str(
        required=True,
        validate=text(32 * 1024, NON_EMPTY["required"]),
        error_messages=NON_EMPTY,
    )
    stream = Flag(load_default=False, error_messages={"invalid": "must be true or false"})


@api.route("/api/weather", query=WeatherQuery, responses=UPSTREAM_RESPONSES)
def weather(req: Request, res: Res) -> Res:
    """``GET /api/weather?city=Tokyo[&units=imperial]``: the current weather.

    Only the parameters the query schema checked go upstream
    (``forward_query=False``), plus the key, as the query parameter the
    weather API expects.
    """
    return forward(
        req,
        res,
        setting("WEATHER_API_URL", DEFAULT_WEATHER_API_URL),
        params={
            "q": req.query["city"],
            "units": req.query["units"],
            "appid": secret("WEATHER_API_KEY"),
        },
        forward_query=False,
        timeout=timeout("WEATHER_API_TIMEOUT", 5.0),
    )


@api.route(
    "/api/chat",
    methods=["POST"],
    body=ChatIn,
    body_limit=64 * 1024,
    responses=UPSTREAM_RESPONSES,
)
def chat(req: Request, res: Res) -> Res:
    """``POST /api/chat {"prompt": "...", "stream": false}``: a chat completion.

    The article's ``app/api/openai/route.ts``: the server builds the
    upstream request and adds ``Authorization: Bearer <key>``.  Unlike the
    article, the upstream's answer is streamed back as it is (so
    ``"stream": true`` gives the client server-sent events as they come).
    """
    payload = {
        "model": setting("OPENAI_MODEL", "gpt-4"),
        "messages": [{"role": "user", "content": req.body["prompt"]}],
        "stream": req.body["stream"],
    }
    return forward(
        req,
        res,
        setting("OPENAI_API_URL", DEFAULT_OPENAI_API_URL),
        body=dumps(payload),
        headers={
            "Authorization": f"Bearer {secret('OPENAI_API_KEY')}",
            "Content-Type": "application/json",
        },
        # A model may think for a while before its first byte.
        timeout=timeout("OPENAI_API_TIMEOUT", 60.0),
    )
