"""A request's memory of small reference reads: the stages, the active users.

A list page asks for the same few dozen stages four times (the status filter's stage ids,
the running totals' stage ids, the rows' stages, the filter and bulk menus) and for the
active users twice; each ask was a query. ``per_request`` reads them once a request:

    @per_request
    def all_stages() -> list[PipelineStage]: ...

``RequestMemoMiddleware`` gives each request an empty memory and forgets it when the
response is made, so a write is seen by the next request, on this server or another (no
state outlives a request: docs/SCALING.md). Outside a request (commands, tasks, tests
calling the function) nothing is kept: every call reads. Only for reads that the request
itself does not change; a view that writes stages reads them in its next request.
"""

import contextvars
import functools
from collections.abc import Callable

_memory: contextvars.ContextVar[dict | None] = contextvars.ContextVar("request_memo", default=None)


def per_request[T](function: Callable[[], T]) -> Callable[[], T]:
    """Call ``function`` (no arguments) once per request; outside a request, every time."""

    @functools.wraps(function)
    def remembered() -> T:
        memory = _memory.get()
        if memory is None:
            return function()
        if function not in memory:
            memory[function] = function()
        return memory[function]

    return remembered


class RequestMemoMiddleware:
    """A fresh memory for each request, dropped with its response (templates included:
    a TemplateResponse is rendered before the response comes back through here)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _memory.set({})
        try:
            return self.get_response(request)
        finally:
            _memory.reset(token)


def prime(queryset, objects) -> None:
    """Fill ``queryset`` with ``objects`` as if it had read them: a form field drawing its
    choices from it (its own copy: ``field.queryset``) reads no rows, while anything that
    narrows it (validating a submitted id) still asks the database. ``objects`` must be
    what it would read: the same rows, in its order."""
    queryset._result_cache = list(objects)
    queryset._prefetch_done = True
