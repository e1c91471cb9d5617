"""Property-based checks of logg's OpenAPI document against the app itself (in-process ASGI, no
network): for every operation, generated requests with a valid token never get a 5xx, and every
response fits the documented schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from litestar import Litestar
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.logg.helpers import Actor, TokenMinter

MAX_EXAMPLES = 25


@pytest.fixture
def openapi(logg_app: Litestar) -> Iterator[schemathesis.BaseSchema]:
    try:
        yield schemathesis.openapi.from_asgi("/schema/openapi.json", logg_app)
    finally:
        asgi.shutdown_lifespans()


def test_no_operation_answers_with_a_server_error_or_outside_its_schema(
    openapi: schemathesis.BaseSchema, minter: TokenMinter
) -> None:
    coordinator = Actor.staff()
    operations = [result.ok() for result in openapi.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 15

    for operation in operations:

        @seed(20250203)
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(), who=st.sampled_from([coordinator, Actor.guardian()]))
        def check(case: schemathesis.Case[Any], who: Actor) -> None:
            case.call_and_validate(
                headers=minter.headers(who),
                checks=[not_a_server_error, response_schema_conformance],
            )

        check()
