"""``req.session``: a dict kept in a signed cookie.

The session is read on first use of ``req.session`` and written back by the
dispatcher when the request is done, only if it was modified.  The cookie is
signed (itsdangerous, JSON) with the app's newest secret key and carries its
signing time; a cookie that is tampered with, garbled, older than
``Api(session_max_age=...)`` or signed with a key no longer in the list
reads as an empty session.  Signed is not encrypted: the client can read
what the session holds, so keep ids in it, not secrets.

When the request carries several cookies of the session's name (a sibling
subdomain can plant one), the first that verifies is the session; cookies
without a name or that do not parse never shadow it.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

from itsdangerous import BadData
from werkzeug.datastructures import CallbackDict
from werkzeug.http import dump_cookie

from .security import SESSION_SALT, is_canonical

if TYPE_CHECKING:
    from .request import Request
    from .response import Res

__all__ = ["MAX_COOKIE_SIZE", "Session", "cookie_values", "load_session", "save_session"]

#: The largest ``Set-Cookie`` value browsers keep (name, value and attributes).
MAX_COOKIE_SIZE = 4093


class Session(CallbackDict[str, Any]):
    """The session: a ``dict`` that knows whether it was modified.

    Changes to the session itself are noticed; changes inside a value it
    holds (``req.session["cart"].append(x)``) are not, so set
    ``req.session.modified = True`` after those.
    """

    def __init__(self, initial: dict[str, Any] | None = None) -> None:
        def on_update(session: Session) -> None:
            session.modified = True

        super().__init__(initial, on_update)
        #: Whether the session must be written back to its cookie.
        self.modified = False


def cookie_values(req: Request, name: str) -> list[str]:
    """Every value of cookie *name* the request carries, in order (``req.cookies``).

    Every value, not the first: a second cookie of that name (set by a
    sibling subdomain, say) must not shadow the genuine one.
    """
    header = req.environ.get("HTTP_COOKIE")
    # PERF: most requests carry no such cookie; a substring test rules it
    # out without parsing (req.cookies parses once per request otherwise).
    if not header or name not in header:
        return []
    return req.cookies.getlist(name)


def load_session(req: Request) -> Session:
    """Read the session from the request's cookie; empty when there is none."""
    api = req.api
    if api is None:
        raise RuntimeError("req.session needs a request dispatched by an Api")
    # First, so that an app without a key fails on every read, cookie or not.
    signer = api.keys.timed_serializer(SESSION_SALT, "req.session")
    for value in cookie_values(req, api.session_cookie):
        if not is_canonical(value, timed=True):
            continue
        try:
            data = signer.loads(value, max_age=api.session_max_age)
        except (BadData, UnicodeError, ValueError, TypeError):
            continue
        if isinstance(data, dict):
            return Session(data)
    return Session()


def save_session(req: Request, res: Res, session: MutableMapping[str, Any]) -> None:
    """Write *session* to its cookie if it was modified; add ``Vary: Cookie``.

    An emptied session deletes the cookie.  A plain mapping assigned to
    ``req.session`` counts as modified.

    :raises RuntimeError: when the cookie would exceed what browsers keep
        (:data:`MAX_COOKIE_SIZE`), naming the size, or when the session
        holds something JSON cannot encode; nothing is written.
    """
    api = req.api
    assert api is not None  # load_session made sure
    res.append_header("Vary", "Cookie")
    if not getattr(session, "modified", True):
        return
    name = api.session_cookie
    if not session:
        if cookie_values(req, name):
            res.clear_cookie(name)
        return
    try:
        value = api.keys.timed_serializer(SESSION_SALT, "req.session").dumps(dict(session))
    except (TypeError, ValueError) as exc:
        # NOTE: a RuntimeError, so the dispatcher answers 500 and logs it.
        raise RuntimeError(
            f"cannot save req.session: {exc} (a session holds JSON values: str, int, "
            "float, bool, None, and lists and dicts of them)"
        ) from exc
    cookie = dump_cookie(
        name,
        value,
        max_age=api.session_max_age,
        path="/",
        secure=req.scheme == "https",
        httponly=True,
        samesite="Lax",
        max_size=0,  # checked below, as an error instead of werkzeug's warning
    )
    if len(cookie) > MAX_COOKIE_SIZE:
        raise RuntimeError(
            f"cannot save req.session: its cookie {name!r} would be {len(cookie)} bytes, "
            f"over the {MAX_COOKIE_SIZE} that browsers keep; store less in the session "
            "(ids, not records)"
        )
    res.append_header("Set-Cookie", cookie)
