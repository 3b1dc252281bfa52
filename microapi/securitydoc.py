"""What middleware requires of requests and answers, written into the OpenAPI document.

A middleware that authenticates requests carries a :class:`Security`
(attached with :func:`declare_security`); :mod:`microapi.openapi` then adds
its schemes to ``components.securitySchemes`` and a ``security`` list to
every operation the middleware covers, which is what gives Swagger UI its
locks and its *Authorize* button.  ``bearer_auth`` and ``csrf`` declare
theirs; a custom middleware declares its own the same way::

    def api_key(req, res, next):
        if req.headers.get("X-API-Key") not in KEYS:
            raise HTTPError(401, "send X-API-Key")
        next()

    declare_security(
        api_key,
        Security(
            schemes={"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
            requirements=({"apiKey": []},),
        ),
    )

Requirements follow OpenAPI: a list of alternatives, each naming schemes
that must all be satisfied; an empty alternative ``{}`` means a request
without credentials is let through too.  Several middleware on one
operation must all be satisfied, so their alternatives are combined (each
with each).

A middleware that answers some requests itself declares those statuses with
:func:`declare_responses`, and every operation it covers documents them
(``bearer_auth``: 400 and 401; ``csrf``: 403; ``rate_limit``: 429, and 503
when it fails closed)::

    declare_responses(api_key, {401: "X-API-Key is missing or unknown."})
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .app import Api

__all__ = [
    "Security",
    "declare_responses",
    "declare_security",
    "operation_responses",
    "operation_security",
    "responses_of",
    "security_of",
]

M = TypeVar("M")

#: The attributes :func:`declare_security` and :func:`declare_responses` set.
_ATTRIBUTE = "__microapi_security__"
_RESPONSES_ATTRIBUTE = "__microapi_responses__"

Schemes = Mapping[str, Mapping[str, Any]]
Requirement = Mapping[str, list[str]]


@dataclass(frozen=True)
class Security:
    """The security schemes a middleware checks, for the OpenAPI document."""

    #: ``components.securitySchemes`` entries by name, or a function of the
    #: ``Api`` returning them (for settings such as ``api.session_cookie``).
    schemes: Schemes | Callable[[Api], Schemes]
    #: The operation's ``security`` alternatives; ``{}`` allows anonymous.
    requirements: tuple[Requirement, ...]
    #: The methods the middleware lets through unchecked (``csrf``: the safe ones).
    unchecked: frozenset[str] = frozenset()


@dataclass(frozen=True)
class _Responses:
    statuses: Mapping[int, str]
    unchecked: frozenset[str]


def declare_security(middleware: M, security: Security) -> M:
    """Attach *security* to *middleware* and return *middleware*.

    :raises TypeError: for a middleware that takes no attributes (a bound
        method): wrap it in a function first.
    """
    return _attach(middleware, _ATTRIBUTE, security, "security")


def declare_responses(
    middleware: M, responses: Mapping[int, str], *, unchecked: Iterable[str] = ()
) -> M:
    """Declare the statuses *middleware* answers itself, and return *middleware*.

    :param responses: a description by status (``{401: "No valid token."}``);
        an error status is documented as ``application/problem+json``, which
        is what raising :class:`~microapi.HTTPError` sends.
    :param unchecked: methods the middleware never answers (``csrf``: the
        safe ones).
    :raises TypeError: for a middleware that takes no attributes (a bound
        method): wrap it in a function first.
    :raises ValueError: for a status outside 100-599 or a description that
        is not a string.
    """
    for status, description in responses.items():
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError(f"declare_responses: {status!r} is not a status from 100 to 599")
        if not isinstance(description, str):
            raise ValueError(f"declare_responses: the description of {status} must be a string")
    declared = _Responses(dict(responses), frozenset(method.upper() for method in unchecked))
    return _attach(middleware, _RESPONSES_ATTRIBUTE, declared, "responses")


def _attach(middleware: M, attribute: str, value: object, what: str) -> M:
    try:
        setattr(middleware, attribute, value)
    except AttributeError:
        raise TypeError(
            f"cannot declare the {what} of {middleware!r}: it takes no attributes; "
            "wrap it in a function"
        ) from None
    return middleware


def responses_of(middleware: Any, method: str) -> Mapping[int, str]:
    """The statuses *middleware* declared it may answer to a *method* request."""
    declared = getattr(middleware, _RESPONSES_ATTRIBUTE, None)
    if not isinstance(declared, _Responses) or method in declared.unchecked:
        return {}
    return declared.statuses


def operation_responses(middleware: Iterable[Any], method: str) -> dict[int, str]:
    """The statuses the *middleware* of one operation may answer, the outermost's first."""
    statuses: dict[int, str] = {}
    for func in middleware:
        for status, description in responses_of(func, method).items():
            statuses.setdefault(status, description)
    return statuses


def security_of(middleware: Any) -> Security | None:
    """The :class:`Security` declared for *middleware*, if any."""
    security = getattr(middleware, _ATTRIBUTE, None)
    return security if isinstance(security, Security) else None


def operation_security(
    api: Api, middleware: Iterable[Any], method: str, schemes: dict[str, dict[str, Any]]
) -> list[dict[str, list[str]]] | None:
    """The ``security`` of one operation, adding the schemes it uses to *schemes*.

    :returns: ``None`` when nothing in *middleware* checks *method*.
    :raises ValueError: when two middleware define one scheme name differently.
    """
    combined: list[dict[str, list[str]]] = [{}]
    checked = False
    for func in middleware:
        security = security_of(func)
        if security is None or method in security.unchecked:
            continue
        checked = True
        declared = security.schemes(api) if callable(security.schemes) else security.schemes
        for name, scheme in declared.items():
            known = schemes.setdefault(name, dict(scheme))
            if known != dict(scheme):
                raise ValueError(
                    f"two security schemes named {name!r}: {known} and {dict(scheme)}; "
                    "give one of them another name"
                )
        combined = _each_with_each(combined, security.requirements)
    if not checked or combined == [{}]:
        return None
    return combined


def _each_with_each(
    first: list[dict[str, list[str]]], second: Iterable[Requirement]
) -> list[dict[str, list[str]]]:
    """Every alternative of *first* together with every one of *second*."""
    out: list[dict[str, list[str]]] = []
    for left in first:
        for right in second:
            both = {name: list(scopes) for name, scopes in left.items()}
            for name, scopes in right.items():
                both[name] = [
                    *both.get(name, []),
                    *(s for s in scopes if s not in both.get(name, [])),
                ]
            if both not in out:
                out.append(both)
    # NOTE: an anonymous alternative goes last, as OpenAPI examples write it.
    return sorted(out, key=lambda requirement: not requirement)
