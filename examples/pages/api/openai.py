"""``app/api/openai/route.ts``: a proxy to an external API, the key kept on the server.

``POST {"prompt": "..."}`` becomes a chat completion request to OpenAI, sent
with ``Authorization: Bearer <OPENAI_API_KEY>`` by
:func:`microapi.proxy.forward`; the browser never sees the key.

Unlike the article, which always answers ``200 {"result": data}``, the
upstream's answer comes back as it is, status included: an OpenAI error
(``401``, ``429``, ...) stays an error instead of a ``200``.  An upstream
that is down or slow is a ``502`` or ``504`` problem that does not name it;
a missing key is a ``503``.

Settings (environment, read per request): ``OPENAI_API_KEY``, and
``OPENAI_API_URL`` (default: OpenAI's chat completions endpoint).
"""

from __future__ import annotations

import logging
import os

from microapi import HTTPError, Request, Res
from microapi.jsonutil import dumps
from microapi.proxy import forward

from ._lib.text import Text, TextSchema


class Prompt(TextSchema):
    """``{"prompt": "..."}``: what the model is asked."""

    prompt = Text(32 * 1024, message="must be a non-empty string", required=True)


#: The Next.js ``export const config``: a prompt, not an upload, checked
#: before the handler runs; and the errors it means to answer.
config = {
    "body_limit": 64 * 1024,
    "body": Prompt,
    "responses": {
        502: "The upstream API is unreachable.",
        503: "This service is not configured (no API key).",
        504: "The upstream API did not answer in time.",
    },
}

DEFAULT_OPENAI_API_URL = "https://api.openai.com/v1/chat/completions"
MODEL = "gpt-4"
#: Seconds to connect, and to wait for each read: a model may think for a
#: while before its first byte.
TIMEOUT = 60.0

log = logging.getLogger("examples.pages.openai")


def api_key() -> str:
    """``process.env.OPENAI_API_KEY``; 503, naming nothing, when it is unset."""
    key = os.environ.get("OPENAI_API_KEY", "").strip()  # a key pasted with its newline
    if not key:
        log.error("OPENAI_API_KEY is not set: /api/openai answers 503")
        raise HTTPError(503, "this service is not configured")
    return key


def POST(req: Request, res: Res) -> Res:
    """Ask the model about ``prompt`` and pass its answer back."""
    payload = {"model": MODEL, "messages": [{"role": "user", "content": req.body["prompt"]}]}
    return forward(
        req,
        res,
        os.environ.get("OPENAI_API_URL") or DEFAULT_OPENAI_API_URL,
        body=dumps(payload),
        headers={"Authorization": f"Bearer {api_key()}", "Content-Type": "application/json"},
        # The server builds the upstream request: the client's query stays here.
        forward_query=False,
        timeout=TIMEOUT,
    )
