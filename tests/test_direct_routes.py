"""The most requested routes are called directly, without FastAPI's per-request machinery; a
route that would need that machinery is refused when the app is built."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import Body, Depends, Query, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from filewallball.deps import ContextDep
from filewallball.direct_routes import DirectRoutes


async def _app(scope: object, receive: object, send: object) -> None:
    raise AssertionError("not reached")


async def takes_what_it_may(file_id: str, request: Request, context: ContextDep) -> None:
    return None


async def takes_a_query(file_id: str, size: int = Query(1)) -> None:
    return None


class Paging(BaseModel):
    page: int = 1


async def takes_a_query_model(file_id: str, paging: Annotated[Paging, Query()]) -> None:
    return None


async def takes_a_body(file_id: str, paging: Annotated[Paging, Body()]) -> None:
    return None


class Aliased(BaseModel):
    page: int = Field(1, alias="p")


class Forbidding(BaseModel):
    model_config = ConfigDict(extra="forbid")
    page: int = 1


class Tagged(BaseModel):
    tags: set[str] = set()


async def takes_an_aliased_model(file_id: str, query: Annotated[Aliased, Query()]) -> None:
    return None


async def takes_a_forbidding_model(file_id: str, query: Annotated[Forbidding, Query()]) -> None:
    return None


async def takes_a_set(file_id: str, query: Annotated[Tagged, Query()]) -> None:
    return None


async def takes_two_query_models(
    file_id: str, paging: Annotated[Paging, Query()], more: Annotated[Paging, Query()]
) -> None:
    return None


async def takes_a_number(file_id: int) -> None:
    return None


async def skips_its_path_parameter() -> None:
    return None


def test_an_endpoint_taking_path_parameters_the_request_and_the_context_is_taken() -> None:
    DirectRoutes(_app, [APIRoute("/files/{file_id}", takes_what_it_may)])


def test_an_endpoint_taking_its_query_as_one_model_is_taken() -> None:
    DirectRoutes(_app, [APIRoute("/files/{file_id}", takes_a_query_model)])


async def _a_dependency() -> None:
    return None


def test_a_route_with_dependencies_of_its_own_is_refused() -> None:
    route = APIRoute("/files/{file_id}", takes_what_it_may, dependencies=[Depends(_a_dependency)])
    with pytest.raises(TypeError, match="runs no dependencies"):
        DirectRoutes(_app, [route])


@pytest.mark.parametrize(
    ("endpoint", "why"),
    [
        (takes_a_query, "not 'size'"),
        (takes_a_body, "not 'paging'"),
        # Models FastAPI would read otherwise than a direct route does.
        (takes_an_aliased_model, "no aliases"),
        (takes_a_forbidding_model, "no `extra`"),
        (takes_a_set, "lists only"),
        (takes_two_query_models, "not 'more'"),
        (takes_a_number, "not 'file_id'"),
        (skips_its_path_parameter, "every path parameter must be taken"),
    ],
)
def test_an_endpoint_needing_more_is_refused_when_the_app_is_built(
    endpoint: object, why: str
) -> None:
    with pytest.raises(TypeError, match=why):
        DirectRoutes(_app, [APIRoute("/files/{file_id}", endpoint)])  # type: ignore[arg-type]
