"""The app as a whole: bad input gets a clear problem, the OpenAPI document, health."""

from __future__ import annotations

import gc
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from services.logg.app import create_app
from services.logg.settings import Settings
from tests.logg.helpers import JSON, Actor, LoggApi, TokenMinter, entry_body, stafettlogg_body

PROBLEM = "application/problem+json"


def _assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert problem["type"].startswith("urn:stafettlogg:problem:")
    return problem


def test_an_unknown_route_is_a_404_problem(api: LoggApi) -> None:
    _assert_problem(api.get("/nothing-here", Actor.staff()), 404)
    _assert_problem(api.client.get("/stafettlogger/a/b/c"), 404)


def test_a_wrong_method_is_a_405_problem(api: LoggApi) -> None:
    response = api.client.delete("/stafettlogger", headers=api.minter.headers(Actor.staff()))

    _assert_problem(response, 405)


@pytest.mark.parametrize("content", [b"{not json", b"", b"[]", b'"text"', b"\xff\xfe"])
def test_a_malformed_body_is_a_400_problem(api: LoggApi, content: bytes) -> None:
    _assert_problem(api.post("/stafettlogger", content, Actor.staff()), 400)


def test_unknown_fields_are_a_400_problem_that_names_the_field(api: LoggApi) -> None:
    coordinator = Actor.staff()
    body, _ = stafettlogg_body(coordinator)
    extended = msgspec.json.decode(msgspec.json.encode(body)) | {"owner": "me"}

    problem = _assert_problem(
        api.post("/stafettlogger", msgspec.json.encode(extended), coordinator), 400
    )

    assert "owner" in str(problem)


def test_a_wrong_typed_field_is_refused_without_echoing_the_value(api: LoggApi) -> None:
    coordinator = Actor.staff()
    body = msgspec.json.decode(msgspec.json.encode(stafettlogg_body(coordinator)[0]))
    body["id"] = "fødselsnummer 01010112345"

    problem = _assert_problem(
        api.post("/stafettlogger", msgspec.json.encode(body), coordinator), 400
    )

    assert "01010112345" not in str(problem)


def test_a_body_that_is_not_json_by_content_type_is_a_415_problem(api: LoggApi) -> None:
    coordinator = Actor.staff()
    body, _ = stafettlogg_body(coordinator)
    headers = {**api.minter.headers(coordinator), "Content-Type": "text/plain"}

    response = api.client.post("/stafettlogger", content=msgspec.json.encode(body), headers=headers)

    _assert_problem(response, 415)


def test_an_oversized_body_is_a_413_problem(logg_settings: Settings, minter: TokenMinter) -> None:
    small = msgspec.structs.replace(logg_settings, max_body=8 * 1024)
    coordinator = Actor.staff()
    with TestClient(create_app(small, key_source=minter.key_source)) as client:
        api = LoggApi(client, minter)
        log_id, key = api.create(coordinator)
        big = entry_body(coordinator, log_id, key, plaintext=b"x" * 20_000)

        response = api.post(f"/stafettlogger/{log_id}/entries", big, coordinator)

    _assert_problem(response, 413)


def test_a_bad_path_id_is_a_400_problem(api: LoggApi) -> None:
    _assert_problem(api.get("/stafettlogger/" + "x" * 65, Actor.staff()), 400)
    _assert_problem(api.get("/stafettlogger/bad%20id", Actor.staff()), 400)


def test_healthz_reports_ok_when_the_database_answers(client: TestClient[Litestar]) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_reports_503_when_the_database_does_not_answer(
    logg_settings: Settings, minter: TokenMinter, tmp_path: Any
) -> None:
    unreachable = msgspec.structs.replace(
        logg_settings,
        database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none"
        if not logg_settings.database_url.startswith("sqlite")
        else f"sqlite+aiosqlite:///{tmp_path}",  # a directory: SQLite cannot open it
    )
    with TestClient(create_app(unreachable, key_source=minter.key_source)) as client:
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}


def test_the_openapi_document_lists_every_route_with_its_problems(
    client: TestClient[Litestar],
) -> None:
    response = client.get("/schema/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == "Stafettlogg logg API"
    paths = document["paths"]
    assert set(paths) >= {
        "/stafettlogger",
        "/stafettlogger/{stafettlogg_id}",
        "/stafettlogger/{stafettlogg_id}/participants",
        "/stafettlogger/{stafettlogg_id}/entries",
        "/healthz",
    }
    create = paths["/stafettlogger"]["post"]
    assert {"200", "201", "400", "401", "403", "409", "413", "415"} <= set(create["responses"])
    assert PROBLEM in create["responses"]["401"]["content"]
    assert create["security"] == [{"BearerToken": []}]
    write = paths["/stafettlogger/{stafettlogg_id}/entries"]["post"]
    assert {"401", "403", "404", "409"} <= set(write["responses"])
    read = paths["/stafettlogger/{stafettlogg_id}"]["get"]
    assert {"401", "403", "404"} <= set(read["responses"])
    assert "security" not in paths["/healthz"]["get"]
    envelope = document["components"]["schemas"]["SealedEnvelope"]["properties"]
    assert envelope["ciphertext"] == {"type": "string", "contentEncoding": "base64"}
    schemes = document["components"]["securitySchemes"]
    assert schemes["BearerToken"]["scheme"] == "bearer"


def test_json_responses_declare_their_type(api: LoggApi) -> None:
    response = api.get("/stafettlogger", Actor.staff())

    assert response.headers["content-type"].startswith("application/json")
    assert JSON["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("field", "loose"),
    [
        ("epoch", "1"),  # a string for a number
        ("epoch", 1.0),  # a float for an integer
        ("epoch", True),  # a boolean for a number
    ],
)
def test_a_body_is_decoded_strictly_not_coerced(api: LoggApi, field: str, loose: object) -> None:
    """Litestar would convert "1" to 1; logg refuses a value that does not have its documented
    type, and says where (the API promises strict decoding)."""
    coordinator = Actor.staff()
    body, key = stafettlogg_body(coordinator)
    assert api.post("/stafettlogger", body, coordinator).status_code == 201
    entry = msgspec.json.decode(
        msgspec.json.encode(entry_body(coordinator, body.id, key)), type=dict[str, Any]
    )
    entry["sealed"]["header"][field] = loose

    problem = _assert_problem(
        api.post(f"/stafettlogger/{body.id}/entries", msgspec.json.encode(entry), coordinator),
        400,
    )

    assert "header.epoch" in str(problem)
    assert api.get(f"/stafettlogger/{body.id}/entries", coordinator).json()["items"] == []


def test_the_running_app_keeps_its_startup_objects_out_of_the_garbage_collectors_walks(
    logg_settings: Settings,
) -> None:
    """A full collection would otherwise walk every object of the app and its libraries (a
    ~100 ms pause); the lifespan freezes them, and lets go when the app stops."""
    gc.unfreeze()
    with TestClient(create_app(logg_settings)) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > 10_000
    assert gc.get_freeze_count() == 0
