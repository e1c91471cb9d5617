"""The walking skeleton's path, over real HTTP between three real processes, with consent
required (logg's default): the coordinator creates a log and adds a guardian and the school; the
guardian gives the school consent and writes an entry; the coordinator and the teacher read it;
nobody else can; and once the guardian withdraws consent, the teacher's next request is refused."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stafett.webclient import PortalBrowser
from tests.databases import plain_postgres_dsn
from tests.product import RunningProduct, running_product

pytestmark = pytest.mark.integration

KARI_PID = "12838510068"


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProduct]:
    with running_product(tmp_path_factory.mktemp("product")) as running:
        yield running


@pytest.fixture(scope="module")
def shared_log(product: RunningProduct) -> tuple[str, str]:
    """A log made by the coordinator with Kari and the school; Kari gives the school consent
    and writes a canary entry."""
    canary = f"KANARI-{secrets.token_hex(8)}"
    with PortalBrowser(product.portal_url, product.auth_url) as coordinator:
        coordinator.login("Siri Stafett", kind="staff")
        stafettlogg_id = coordinator.create_stafettlogg(
            "Emma Nordmann", "2016-05-03", f"Trøtt på skolen {canary}"
        )
        coordinator.add_guardian(stafettlogg_id, KARI_PID)
        coordinator.add_service(stafettlogg_id, "sentrum-skole")
    with PortalBrowser(product.portal_url, product.auth_url) as guardian:
        guardian.login("Kari Nordmann", kind="guardian")
        front = guardian.get("/")
        assert "Emma Nordmann" in front.text
        assert "venter på samtykke" in guardian.log_page(stafettlogg_id).text
        consented = guardian.give_consent(stafettlogg_id, "sentrum-skole")
        assert "Samtykke gitt til og med" in consented.text
        guardian.write_entry(stafettlogg_id, "observation", f"Emma sov dårlig i natt. {canary}")
    return stafettlogg_id, canary


def test_every_service_answers_healthz(product: RunningProduct) -> None:
    for url in (product.portal_url, product.auth_url, product.logg_url):
        assert httpx.get(f"{url}/healthz").status_code == 200


def test_logg_serves_its_openapi_document(product: RunningProduct) -> None:
    document = httpx.get(f"{product.logg_url}/schema/openapi.json").json()
    assert "/stafettlogger/{stafettlogg_id}/entries" in document["paths"] or any(
        path.endswith("/entries") for path in document["paths"]
    )


@pytest.mark.parametrize(("name", "kind"), [("Siri Stafett", "staff"), ("Lars Lærer", "staff")])
def test_coordinator_and_teacher_read_the_guardians_entry(
    product: RunningProduct, shared_log: tuple[str, str], name: str, kind: str
) -> None:
    stafettlogg_id, canary = shared_log
    with PortalBrowser(product.portal_url, product.auth_url) as reader:
        reader.login(name, kind=kind)
        page = reader.log_page(stafettlogg_id)
    assert f"Emma sov dårlig i natt. {canary}" in page.text
    assert "Kari Nordmann" in page.text


def test_a_guardian_who_is_not_a_participant_is_refused(
    product: RunningProduct, shared_log: tuple[str, str]
) -> None:
    stafettlogg_id, canary = shared_log
    with PortalBrowser(product.portal_url, product.auth_url) as outsider:
        outsider.login("Ola Nordmann", kind="guardian")
        response = outsider.get(f"/stafettlogger/{stafettlogg_id}")
    assert response.status_code == 403
    assert canary not in response.text


def test_the_teacher_is_refused_from_the_request_after_consent_is_withdrawn(
    product: RunningProduct,
) -> None:
    with PortalBrowser(product.portal_url, product.auth_url) as coordinator:
        coordinator.login("Siri Stafett", kind="staff")
        stafettlogg_id = coordinator.create_stafettlogg("Jonas Nordmann", "2019-02-11", "Språk")
        coordinator.add_guardian(stafettlogg_id, KARI_PID)
        coordinator.add_service(stafettlogg_id, "sentrum-skole")
    with (
        PortalBrowser(product.portal_url, product.auth_url) as guardian,
        PortalBrowser(product.portal_url, product.auth_url) as teacher,
    ):
        guardian.login("Kari Nordmann", kind="guardian")
        teacher.login("Lars Lærer", kind="staff")
        before = teacher.get(f"/stafettlogger/{stafettlogg_id}")
        assert before.status_code == 403, "no consent yet"
        guardian.give_consent(stafettlogg_id, "sentrum-skole")
        guardian.write_entry(stafettlogg_id, "message", "Jonas liker bøker om traktorer.")
        assert "Jonas liker bøker om traktorer." in teacher.log_page(stafettlogg_id).text
        withdrawn = guardian.withdraw_consent(stafettlogg_id, "sentrum-skole")
        assert "Samtykket ble trukket tilbake" in withdrawn.text
        refused = teacher.get(f"/stafettlogger/{stafettlogg_id}")
        assert refused.status_code == 403
        assert "Du har ikke tilgang til denne stafettloggen" in refused.text
        assert "traktorer" not in refused.text
        access_log = guardian.access_log(stafettlogg_id)
    assert "Lars Lærer" in access_log.text
    assert "leste oppføringene" in access_log.text
    assert "trakk tilbake samtykke" in access_log.text
    assert "Nei, avvist" in access_log.text


def test_logg_refuses_requests_without_a_token(
    product: RunningProduct, shared_log: tuple[str, str]
) -> None:
    stafettlogg_id, _ = shared_log
    response = httpx.get(f"{product.logg_url}/stafettlogger/{stafettlogg_id}/entries")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


def test_canary_text_is_in_no_file_of_any_data_directory_or_log(
    product: RunningProduct, shared_log: tuple[str, str]
) -> None:
    _, canary = shared_log
    needle = canary.encode()
    files = [path for path in product.data_dir.rglob("*") if path.is_file()]
    assert any(
        path.name.startswith("logg.db") for path in files
    ) or product.logg_database_url.startswith("postgresql")
    for path in files:
        assert needle not in path.read_bytes(), f"the canary is in {path}"
    assert canary not in product.service_output()


def test_canary_text_is_in_no_dump_of_the_postgresql_databases(
    product: RunningProduct, shared_log: tuple[str, str], tmp_path: Path
) -> None:
    if not product.logg_database_url.startswith("postgresql"):
        pytest.skip("runs on PostgreSQL (set STAFETT_TEST_POSTGRES_URL)")
    _, canary = shared_log
    for url in (product.logg_database_url, product.auth_database_url):
        dump = subprocess.run(
            ["pg_dump", "--no-owner", plain_postgres_dsn(url)],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
        assert b"CREATE TABLE" in dump
        assert canary.encode() not in dump
