"""The login page's language: the portal's choice reaches the provider as `ui_locales`
(ID-porten takes nb, nn, en and se), plainly or inside the pushed request, and the test IdP
shows its page in it."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from joserfc.jwk import RSAKey
from litestar import Litestar
from litestar.di import Provide
from litestar.testing import TestClient

from services.auth.oidc import RelyingParty
from services.auth.test_idp.provider import TestIdentityProvider
from tests.auth.helpers import AUTH_URL, query_of


def _test_idp(app: Litestar) -> TestIdentityProvider:
    provide = app.dependencies["test_idp"]
    assert isinstance(provide, Provide)
    provided = provide.dependency()
    assert isinstance(provided, TestIdentityProvider)
    return provided


def _login_page(client: TestClient[Litestar], ui_locales: str) -> str:
    start = client.get("/login", params={"kind": "guardian", "ui_locales": ui_locales})
    assert start.status_code == 303
    page = client.get(start.headers["location"].removeprefix(AUTH_URL))
    assert page.status_code == 200
    return page.text


@pytest.mark.parametrize("locale", ["nb", "nn", "en"])
def test_the_chosen_language_is_in_the_plain_authorization_request(
    app: Litestar, client: TestClient[Litestar], locale: str
) -> None:
    _test_idp(app).offer_par = False
    start = client.get("/login", params={"kind": "guardian", "ui_locales": locale})
    assert query_of(start.headers["location"])["ui_locales"] == locale


def test_without_a_choice_the_login_page_is_asked_for_in_bokmal(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    _test_idp(app).offer_par = False
    start = client.get("/login", params={"kind": "staff"})
    assert query_of(start.headers["location"])["ui_locales"] == "nb"


def test_the_pushed_request_carries_nynorsk_and_the_test_idp_shows_it(
    client: TestClient[Litestar],
) -> None:
    page = _login_page(client, "nn")  # PAR is offered: ui_locales travels in the pushed body
    assert '<html lang="nn">' in page
    assert "Vel kven du vil logge inn som." in page
    assert "<h2>Føresette og ungdom</h2>" in page


def test_the_test_idp_shows_english_and_bokmal_when_asked(client: TestClient[Litestar]) -> None:
    english = _login_page(client, "en")
    assert '<html lang="en">' in english
    assert "<h1>Log in with Test ID</h1>" in english
    bokmal = _login_page(client, "nb")
    assert '<html lang="nb">' in bokmal
    assert "<h1>Logg inn med Test-ID</h1>" in bokmal


@pytest.mark.parametrize("value", ["de", "se", "nb nn", "", "en-GB", "nn\u0000"])
def test_login_refuses_a_language_the_portal_does_not_offer(
    client: TestClient[Litestar], value: str
) -> None:
    response = client.get("/login", params={"kind": "guardian", "ui_locales": value})
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "Ukjent språk" in response.text


def test_the_relying_party_refuses_an_unknown_language() -> None:
    async def begin() -> None:
        async with httpx.AsyncClient() as http:
            relying_party = RelyingParty(
                {},
                client_key=RSAKey.generate_key(2048),
                redirect_uri=f"{AUTH_URL}/callback",
                http=http,
            )
            await relying_party.begin("guardian", ui_locales="se")

    with pytest.raises(ValueError, match="ui_locales"):
        asyncio.run(begin())


def test_the_test_idp_refuses_ui_locales_that_name_no_language_it_knows(
    app: Litestar, client: TestClient[Litestar]
) -> None:
    _test_idp(app).offer_par = False
    start = client.get("/login", params={"kind": "guardian", "ui_locales": "en"})
    location = start.headers["location"].removeprefix(AUTH_URL)
    refused = client.get(location.replace("ui_locales=en", "ui_locales=klingon"))
    assert refused.status_code == 303  # back to the client, as OIDC Core 3.1.2.6 says
    assert query_of(refused.headers["location"])["error"] == "invalid_request"


def test_a_refused_callback_speaks_the_language_the_login_started_in(
    client: TestClient[Litestar],
) -> None:
    start = client.get("/login", params={"kind": "guardian", "ui_locales": "nn"})
    assert start.status_code == 303
    refused = client.get("/callback", params={"state": "not-this-attempt", "code": "x"})
    assert refused.status_code == 400
    assert '<html lang="nn">' in refused.text
    assert "Vi kunne ikkje knyte svaret til innlogginga di." in refused.text
    assert "Gå til framsida" in refused.text


@pytest.mark.parametrize(
    ("locale", "title"),
    [
        ("en", "The login failed"),
        ("nn", "Innlogginga mislukkast"),
        ("nb", "Innloggingen mislyktes"),
    ],
)
def test_an_unknown_login_kind_is_refused_in_the_asked_language(
    client: TestClient[Litestar], locale: str, title: str
) -> None:
    refused = client.get("/login", params={"kind": "robot", "ui_locales": locale})
    assert refused.status_code == 400
    assert f'<html lang="{locale}">' in refused.text
    assert f"<h1>{title}</h1>" in refused.text


def test_without_a_language_auth_speaks_bokmal(client: TestClient[Litestar]) -> None:
    refused = client.get("/callback", params={"state": "nothing", "code": "x"})
    assert '<html lang="nb">' in refused.text
    assert "Vi kunne ikke knytte svaret til innloggingen din." in refused.text
