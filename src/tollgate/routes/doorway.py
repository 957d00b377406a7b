"""The doors' short way in: a gateway call skips the management API's framework layers.

FastAPI wraps every request in a stack of layers (server errors, telemetry, a body limit, the
request-id middleware, exception handlers, dependency exit stacks, then routing over every
route). A door needs only three of them: the request id, tollgate's 500, and the exception
handlers. :class:`TollgateApp` serves a request whose path and method match a door through
exactly those, and leaves every other request to FastAPI as before, so the management API, its
OpenAPI document and its 404/405 answers do not change. The door routes stay in the router too:
a wrong method on a door path still gets FastAPI's 405.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fastapi import FastAPI
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tollgate.routes.middleware import RequestIdMiddleware


class TollgateApp(FastAPI):
    """FastAPI, with the door routes given by :meth:`open_doors` served on a short path."""

    _door_stack: ASGIApp | None = None
    _exact: dict[str, Route]
    _patterned: tuple[Route, ...]

    def open_doors(self, routes: Sequence[Route], new_id: Callable[[], str], access_log: bool) -> None:
        """Serve ``routes`` on the short path (also added to the router) and give every request,
        door or not, an id from ``new_id``. Call it after the exception handlers are added."""
        self.router.routes.extend(routes)
        self._exact = {r.path: r for r in routes if not r.param_convertors}
        self._patterned = tuple(r for r in routes if r.param_convertors)
        handlers = {k: v for k, v in self.exception_handlers.items() if k not in (500, Exception)}
        routed = ExceptionMiddleware(_handle_route, handlers=handlers)
        self._door_stack = RequestIdMiddleware(routed, new_id=new_id, access_log=access_log)
        self.add_middleware(RequestIdMiddleware, new_id=new_id, access_log=access_log)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._door_stack is not None and scope["type"] == "http" and self._door_for(scope):
            scope["app"] = self
            await self._door_stack(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def _door_for(self, scope: Scope) -> bool:
        """Whether a door serves this path and method; if so its route, endpoint and path
        params are put in ``scope``, as the router would."""
        exact = self._exact.get(scope["path"])
        for route in (exact,) if exact is not None else self._patterned:
            match, child = route.matches(scope)
            if match is Match.FULL:
                scope.update(child)
                scope["route"] = route
                return True
        return False


async def _handle_route(scope: Scope, receive: Receive, send: Send) -> None:
    await scope["route"].handle(scope, receive, send)
