"""The most requested routes, called without FastAPI's per-request machinery.

On every request FastAPI walks its routes, solves the route's dependencies and validates the
answer against the route's model: for a popular file's details that was two thirds of the
work, more than a bare FastAPI app spends on its whole request (bench/README.md). The routes
handed to `DirectRoutes` are still declared, documented and tested as FastAPI routes; this
middleware, the innermost, recognises them first and calls their endpoint itself.

Such an endpoint may take only what can be given without solving anything: its path
parameters (as `str`), the `Request`, the read context (`ContextDep`) and its query parameters
as one pydantic model (`Annotated[Model, Query()]`, which FastAPI documents field by field);
and it returns a `Response` or exactly its route's response model. A route that asks for more
is refused when the app is built, so that it cannot drift into needing what this does not
provide.
"""

from __future__ import annotations

import inspect
from collections import abc
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, get_args, get_origin

from fastapi import params
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette._utils import get_route_path, is_async_callable
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from filewallball.deps import ContextDep, get_context

# Collections FastAPI fills from repeated parameters that a direct route does not read.
_OTHER_COLLECTIONS = {set, frozenset, tuple, abc.Sequence, abc.Set, abc.Collection, abc.Iterable}


@dataclass(frozen=True, slots=True)
class _QueryModel:
    """The query string, read into `model` as FastAPI reads a query parameter model: a field
    that holds a list takes every value of its name, any other field the last. Only a model
    read the same way both ways is taken: no aliases, no other kind of collection, no `extra`
    setting of its own."""

    model: type[BaseModel]
    lists: frozenset[str]

    @classmethod
    def of(cls, annotation: Any) -> _QueryModel | None:
        if get_origin(annotation) is not Annotated:
            return None
        model, *metadata = get_args(annotation)
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        if not any(isinstance(marker, params.Query) for marker in metadata):
            return None
        if model.model_config.get("extra") is not None:
            raise TypeError(f"{model.__name__}: a direct route's query model sets no `extra`")
        lists = set()
        for name, field in model.model_fields.items():
            kinds = {get_origin(kind) for kind in (field.annotation, *get_args(field.annotation))}
            if field.alias not in (None, name) or field.validation_alias is not None:
                raise TypeError(f"{model.__name__}.{name}: a direct route reads no aliases")
            if kinds & _OTHER_COLLECTIONS:
                raise TypeError(f"{model.__name__}.{name}: a direct route reads lists only")
            if list in kinds:
                lists.add(name)
        return cls(model, frozenset(lists))

    def read(self, request: Request) -> BaseModel:
        given = request.query_params
        values = {
            name: given.getlist(name) if name in self.lists else given[name]
            for name in self.model.model_fields
            if name in given
        }
        try:
            return self.model.model_validate(values)
        except ValidationError as exc:
            # Where FastAPI's own reading would place them, for the same 422.
            raise RequestValidationError(
                [{**error, "loc": ("query", *error["loc"])} for error in exc.errors()]
            ) from None


@dataclass(frozen=True, slots=True)
class _Direct:
    route: APIRoute
    methods: frozenset[str]
    takes_request: str | None  # the parameter's name, if any
    takes_context: str | None
    takes_query: tuple[str, _QueryModel] | None


def _direct(route: APIRoute) -> _Direct:
    path_parameters: list[str] = []
    takes_request = takes_context = None
    takes_query: tuple[str, _QueryModel] | None = None
    for name, parameter in inspect.signature(route.endpoint, eval_str=True).parameters.items():
        if name in route.param_convertors and parameter.annotation is str:
            path_parameters.append(name)
        elif parameter.annotation is Request:
            takes_request = name
        elif parameter.annotation == ContextDep:
            takes_context = name
        elif (query := _QueryModel.of(parameter.annotation)) is not None and not takes_query:
            takes_query = (name, query)
        else:
            raise TypeError(
                f"{route.path}: a direct route's endpoint takes path parameters, the Request, "
                f"the read context and a query model only, not {name!r}"
            )
    if set(path_parameters) != set(route.param_convertors):
        raise TypeError(f"{route.path}: every path parameter must be taken, as str")
    if route.dependencies:
        raise TypeError(f"{route.path}: a direct route runs no dependencies of its route")
    return _Direct(route, frozenset(route.methods or ()), takes_request, takes_context, takes_query)


class DirectRoutes:
    """Answers `routes` itself; every other request goes on to FastAPI's router."""

    def __init__(self, app: ASGIApp, routes: Iterable[APIRoute]) -> None:
        self.app = app
        self._routes = [_direct(route) for route in routes]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path, method = get_route_path(scope), scope["method"]  # as Starlette's routes match
            for direct in self._routes:
                route = direct.route
                if method in direct.methods and (found := route.path_regex.match(path)):
                    await self._call(direct, found.groupdict(), scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _call(
        self,
        direct: _Direct,
        path_params: dict[str, str],
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        route = direct.route
        scope["route"], scope["endpoint"], scope["path_params"] = route, route.endpoint, path_params
        request = Request(scope, receive, send)
        arguments: dict[str, Any] = dict(path_params)
        if direct.takes_request:
            arguments[direct.takes_request] = request
        try:
            if direct.takes_query:
                name, query = direct.takes_query
                arguments[name] = query.read(request)
            if direct.takes_context:
                arguments[direct.takes_context] = await get_context(request)
            answer = await route.endpoint(**arguments)
        except Exception as exc:
            handled = await _handled(request, exc)
            if handled is None:
                raise
            answer = handled
        if not isinstance(answer, Response):
            answer = _json(route, answer)
        # An error from here on is the edge's: every answer these endpoints give sends its
        # start first, after which no handler could answer anyway.
        await answer(scope, receive, send)


def _json(route: APIRoute, answer: object) -> Response:
    if type(answer) is not route.response_model or not isinstance(answer, BaseModel):
        raise TypeError(f"{route.path} answered {type(answer).__name__}, not its response model")
    return Response(
        answer.__pydantic_serializer__.to_json(answer),
        status_code=route.status_code or 200,
        media_type="application/json",
    )


async def _handled(request: Request, exc: Exception) -> Response | None:
    """The answer the app's exception handlers give, as FastAPI's own routes would get it."""
    handlers: dict[Any, Callable[[Request, Exception], Any]] = request.app.exception_handlers
    for cls in type(exc).__mro__:
        if cls is Exception:  # the last resort is the edge's, as for every other route
            return None
        handler = handlers.get(cls)
        if handler is not None:
            answer = (
                await handler(request, exc) if is_async_callable(handler) else handler(request, exc)
            )
            if not isinstance(answer, Response):
                raise TypeError(f"the handler of {cls.__name__} answered no Response")
            return answer
    return None
