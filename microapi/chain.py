"""Middleware chains: composed once per route, sync and async mixed.

A route's chain is its applicable middleware, outermost first, around the
handler.  It runs synchronously up to the first ``async def`` element and
on the worker thread's event loop from there inward.  A sync middleware
cannot block on async code it wraps, so a chain shaped async → sync →
async is refused with a :class:`TypeError` naming the middleware, unless
the sync middleware has an async form (:func:`before_only`: the built-in
middleware that only works before ``next()``), which then runs there.
"""

from __future__ import annotations

import inspect
import threading
import weakref
from collections.abc import Callable, Coroutine, Sequence
from functools import partial
from types import MethodType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from .routing.matchers import Matcher
from .types import describe

if TYPE_CHECKING:
    import asyncio

    from .request import Request
    from .response import Res
    from .types import AsyncTarget, Handler, Middleware, Target

__all__ = ["EventLoops", "Layer", "before_only", "check_shape", "compose", "is_async"]

T = TypeVar("T")

#: A middleware and the matcher deciding per request whether it applies
#: (``None``: always).
Layer = tuple["Middleware", Matcher | None]


def is_async(func: Callable[..., Any]) -> bool:
    """Whether calling *func* returns a coroutine (``async def``)."""
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None)  # noqa: B004 - callable objects
    )


# The attribute holding a sync middleware's async form (see before_only).
_ASYNC_FORM = "__microapi_async__"

M = TypeVar("M", bound=Callable[..., Any])


def before_only(middleware: M) -> M:
    """Give a sync middleware an async form, so that it also runs inside async chains.

    Only for middleware whose last act is calling ``next()`` (returning its
    value or nothing): the async form runs the middleware with a ``next``
    that only notes the call, then awaits the real one.  Work the middleware
    did after ``next()`` would run before the rest of the chain, so
    middleware with such work must not be marked.  Returns *middleware*.

    :raises TypeError: for a callable that takes no attributes (a bound
        method): wrap it in a function first.
    """

    async def async_form(req: Request, res: Res, next: Callable[[], Any]) -> Any:
        called = False

        def note() -> None:
            nonlocal called
            called = True

        value = middleware(req, res, note)
        if called:
            return await next()
        return value

    async_form.__qualname__ = getattr(middleware, "__qualname__", "middleware")
    try:
        setattr(middleware, _ASYNC_FORM, async_form)
    except AttributeError:  # a bound method, a builtin
        raise TypeError(
            f"before_only() takes a function (or an object that accepts attributes), "
            f"not {middleware!r}"
        ) from None
    return middleware


def _async_form(func: Callable[..., Any]) -> Middleware | None:
    form: Middleware | None = getattr(func, _ASYNC_FORM, None)
    return form


def check_shape(layers: Sequence[Layer], handler: Handler) -> None:
    """Refuse a chain with a sync middleware (without an async form) between two async elements.

    :raises TypeError: naming the middleware to make ``async``.
    """
    flags = [is_async(func) for func, _ in layers] + [is_async(handler)]
    if True not in flags:
        return
    first = flags.index(True)
    last = len(flags) - 1 - flags[::-1].index(True)
    for index in range(first + 1, last):
        if not flags[index] and _async_form(layers[index][0]) is None:
            raise TypeError(
                f"middleware {describe(layers[index][0])} is sync but runs inside async "
                f"middleware {describe(layers[first][0])} and wraps async code; "
                "make it 'async def' and 'await next()' (or, if calling next() is its "
                "last act, wrap it in microapi.chain.before_only)"
            )


class _LoopOwner:
    """Holds a thread's loop; closes it when the thread ends.

    Thread-local values are dropped when their thread ends, and with them
    the owner, whose finalizer then closes the loop.
    """

    __slots__ = ("__weakref__", "loop")

    def __init__(self) -> None:
        import asyncio  # NOTE: ~12 ms at import time, for async chains only

        self.loop = asyncio.new_event_loop()
        weakref.finalize(self, self.loop.close)


class EventLoops:
    """One event loop per worker thread, reused for every request.

    Loops close when their thread ends or when :meth:`close` is called
    (``api.close()``).
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self._loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
        self._lock = threading.Lock()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run *coro* to completion on this thread's loop and return its result."""
        owner = getattr(self._local, "owner", None)
        if owner is None or owner.loop.is_closed():
            owner = self._local.owner = _LoopOwner()
            with self._lock:
                self._loops.add(owner.loop)
        return owner.loop.run_until_complete(coro)

    def close(self) -> None:
        """Close every loop that is not running."""
        with self._lock:
            loops = list(self._loops)
        for loop in loops:
            if not loop.is_running():
                loop.close()


# PERF: inside a chain, the parts take ``res`` alone (``req`` is ``res._req``)
# and each middleware's ``next`` is ``MethodType(inner, res)``: a bound
# method costs ~60 ns less to make than ``partial(inner, req, res)``
# (middleware x3: -0.2 µs).  Only the outermost part takes ``(req, res)``,
# as the dispatcher calls it.
Step = Callable[["Res"], None]


def _layer_step(func: Middleware, matcher: Matcher | None, inner: Step) -> Step:
    def step(res: Res) -> None:
        value = func(res._req, res, MethodType(inner, res))
        # PERF: Res._finish's usual case inlined; this runs once per layer
        # per request.
        if value is not None and value is not res:
            res._finish(value, func)

    if matcher is None:
        return step

    def step_if_matched(res: Res) -> None:
        if matcher(res._req.path):
            step(res)
        else:
            inner(res)

    return step_if_matched


def _sync_chain(layers: Sequence[Layer], innermost: Step) -> Target:
    """Sync *layers* around *innermost*, as one ``target(req, res)``."""
    step = innermost
    for func, matcher in reversed(layers[1:]):
        step = _layer_step(func, matcher, step)
    if layers and layers[0][1] is None:
        outer = layers[0][0]

        def run(req: Request, res: Res) -> None:
            value = outer(req, res, MethodType(step, res))  # as in _layer_step
            if value is not None and value is not res:
                res._finish(value, outer)

        return run
    if layers:
        step = _layer_step(*layers[0], step)
    first = step

    def enter(req: Request, res: Res) -> None:
        first(res)

    return enter


def _async_layer(func: Middleware, matcher: Matcher | None, inner: AsyncTarget) -> AsyncTarget:
    async def run(req: Request, res: Res) -> None:
        res._finish(await func(req, res, partial(inner, req, res)), func)

    if matcher is None:
        return run

    async def run_if_matched(req: Request, res: Res) -> None:
        if matcher(req.path):
            await run(req, res)
        else:
            await inner(req, res)

    return run_if_matched


def _as_async(step: Step) -> AsyncTarget:
    async def run(req: Request, res: Res) -> None:
        step(res)

    return run


def _handler_target(handler: Handler, prepare: Target | None) -> Target:
    """The handler alone, as a chain without middleware."""
    # PERF: Res._finish's usual cases inlined: a handler that sent, and one
    # that returned a dict (-0.15 µs).  Keep them in step with _handler_step.
    if prepare is None:

        def call_handler(req: Request, res: Res) -> None:
            value = handler(req, res)
            if value.__class__ is dict and res._sent is None:
                res.json(value)
            elif res._sent is None or (value is not None and value is not res):
                res._finish(value, handler, handler=True)

        return call_handler

    def prepare_and_call(req: Request, res: Res) -> None:
        prepare(req, res)
        value = handler(req, res)
        if value.__class__ is dict and res._sent is None:
            res.json(value)
        elif res._sent is None or (value is not None and value is not res):
            res._finish(value, handler, handler=True)

    return prepare_and_call


def _handler_step(handler: Handler, prepare: Target | None) -> Step:
    """The handler inside middleware: :func:`_handler_target` taking ``res`` alone."""

    def call_handler(res: Res) -> None:
        value = handler(res._req, res)
        if value.__class__ is dict and res._sent is None:
            res.json(value)
        elif res._sent is None or (value is not None and value is not res):
            res._finish(value, handler, handler=True)

    if prepare is None:
        return call_handler

    def prepare_and_call(res: Res) -> None:
        prepare(res._req, res)
        call_handler(res)

    return prepare_and_call


def _async_handler_target(handler: Handler, prepare: Target | None) -> AsyncTarget:
    if prepare is None:

        async def call_handler(req: Request, res: Res) -> None:
            res._finish(await handler(req, res), handler, handler=True)

        return call_handler

    async def prepare_and_call(req: Request, res: Res) -> None:
        prepare(req, res)
        res._finish(await handler(req, res), handler, handler=True)

    return prepare_and_call


def compose(
    layers: Sequence[Layer], handler: Handler, loops: EventLoops, prepare: Target | None = None
) -> Target:
    """Compose *layers* around *handler* into one ``target(req, res)``.

    :param prepare: a step run just before the handler, inside every
        middleware (the route's validation, see
        :func:`microapi.validation.prepare_route`); routes without one get
        no extra call.
    :raises TypeError: for a chain shaped async → sync → async.
    """
    check_shape(layers, handler)
    flags = [is_async(func) for func, _ in layers]
    if not layers and not is_async(handler):
        return _handler_target(handler, prepare)
    if True not in flags and not is_async(handler):
        return _sync_chain(layers, _handler_step(handler, prepare))
    if is_async(handler):
        sync_from = len(layers)
        async_target = _async_handler_target(handler, prepare)
    else:
        # The innermost sync run: the handler and the sync middleware after
        # the last async one.
        sync_from = len(layers) - flags[::-1].index(True)
        step = _handler_step(handler, prepare)
        for func, matcher in reversed(layers[sync_from:]):
            step = _layer_step(func, matcher, step)
        async_target = _as_async(step)
    first_async = flags.index(True) if True in flags else len(layers)
    for (func, matcher), func_async in zip(
        reversed(layers[first_async:sync_from]),
        reversed(flags[first_async:sync_from]),
        strict=True,
    ):
        # check_shape made sure a sync one here has an async form.
        form = func if func_async else cast("Middleware", _async_form(func))
        async_target = _async_layer(form, matcher, async_target)
    entry = async_target

    def run_on_loop(res: Res) -> None:
        loops.run(entry(res._req, res))

    return _sync_chain(layers[:first_async], run_on_loop)
