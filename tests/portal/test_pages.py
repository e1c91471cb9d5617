"""The portal's pages as a browser sees them: login links, errors, headers, htmx fragments."""

from __future__ import annotations

from tests.portal.conftest import Portal


def test_logged_out_front_page_offers_both_logins(portal: Portal) -> None:
    response = portal.client.get("/")
    assert response.status_code == 200
    assert "<h1>Stafettlogg</h1>" in response.text
    assert 'lang="nb"' in response.text
    assert (
        'href="http://127.0.0.1:8001/login?kind=guardian&amp;next=/&amp;ui_locales=nb">'
        "Logg inn med ID-porten</a>" in response.text
    )
    assert (
        'href="http://127.0.0.1:8001/login?kind=staff&amp;next=/&amp;ui_locales=nb">'
        "Logg inn som ansatt</a>" in response.text
    )
    assert "Logg ut" not in response.text


def test_every_page_carries_the_security_headers(portal: Portal) -> None:
    for path in ("/", "/finnes-ikke", "/static/portal.css"):
        response = portal.client.get(path)
        assert response.headers["content-security-policy"] == (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "form-action 'self' http://127.0.0.1:8001 https://login.idporten.no "
            "https://login.test.idporten.no https://login.ansattporten.no "
            "https://login.test.ansattporten.no; frame-ancestors 'none'; base-uri 'none'"
        )
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
    page = portal.client.get("/")
    assert page.headers["cache-control"] == "no-store"
    assert "HX-Request" in page.headers["vary"]


def test_unknown_route_gets_a_norwegian_404_page(portal: Portal) -> None:
    response = portal.client.get("/finnes/ikke")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Vi fant ikke siden" in response.text
    assert "Traceback" not in response.text


def test_htmx_is_served_from_our_own_static_files(portal: Portal) -> None:
    response = portal.client.get("/static/htmx.min.js")
    assert response.status_code == 200
    assert "htmx" in response.text[:2000]
    page = portal.client.get("/")
    assert '<script src="/static/htmx.min.js" defer></script>' in page.text
    assert "<style" not in page.text


def test_logged_in_guardian_without_logs_is_told_so_kindly(portal: Portal) -> None:
    portal.log_in(portal.guardian)
    response = portal.client.get("/")
    assert "<h1>Mine stafettlogger</h1>" in response.text
    assert "Gro Foresatt" in response.text
    assert "Du er ikke med i noen stafettlogger ennå." in response.text
    assert "Ny stafettlogg" not in response.text
    assert 'action="http://127.0.0.1:8001/logout"' in response.text


def test_staff_see_a_link_to_create_a_new_log(portal: Portal) -> None:
    portal.log_in(portal.staff)
    response = portal.client.get("/")
    assert 'href="/stafettlogger/ny">Ny stafettlogg</a>' in response.text


def test_an_expired_session_sees_the_login_links(portal: Portal) -> None:
    portal.client.cookies.set("stafett_session", "no-such-session")
    response = portal.client.get("/")
    assert "Logg inn med ID-porten" in response.text


def test_pages_behind_login_redirect_to_the_front_page(portal: Portal) -> None:
    response = portal.client.get("/stafettlogger/ny", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_guardians_cannot_open_the_new_log_form(portal: Portal) -> None:
    portal.log_in(portal.guardian)
    response = portal.client.get("/stafettlogger/ny")
    assert response.status_code == 403
    assert "Bare ansatte kan opprette stafettlogger" in response.text


def test_auth_down_gives_a_friendly_503_page(portal: Portal) -> None:
    portal.log_in(portal.staff)
    portal.auth.down = True
    response = portal.client.get("/")
    assert response.status_code == 503
    assert "Tjenesten er utilgjengelig akkurat nå" in response.text


def test_healthz_reports_ok_when_auth_and_logg_answer(portal: Portal) -> None:
    response = portal.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_reports_503_when_logg_is_down(portal: Portal) -> None:
    portal.logg.down = True
    response = portal.client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["logg"] == "unavailable"


def test_htmx_requests_after_the_session_ends_are_sent_to_the_front_page(portal: Portal) -> None:
    response = portal.client.get(
        "/stafettlogger/abc", headers={"HX-Request": "true"}, follow_redirects=False
    )
    assert response.status_code == 200
    assert response.headers["hx-redirect"] == "/"


def test_the_portal_refuses_to_be_framed_and_scripts_are_ours_only(portal: Portal) -> None:
    page = portal.client.get("/")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "onclick" not in page.text
    assert "<script>" not in page.text
