"""The young person takes part themself, over real HTTP between the three real processes: the
coordinator adds Nora (17, over the municipality's default age of 16) to her own log after a
fødselsnummer of another birth date is refused; Nora logs in through the test ID-porten, reads
the log, gives the school consent and withdraws it, and the innsynslogg calls her «Ungdommen»."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stafett.webclient import PortalBrowser
from tests.product import RunningProduct, running_product

pytestmark = pytest.mark.integration

NORA_PID = "14890950095"  # synthetic, born 2009-09-14 (services/auth/test_idp/persons.py)
KARI_PID = "12838510068"  # born 1985: not Nora's birth date


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProduct]:
    with running_product(tmp_path_factory.mktemp("product")) as running:
        yield running


def test_the_coordinator_adds_the_young_person_who_then_consents_herself(
    product: RunningProduct,
) -> None:
    with PortalBrowser(product.portal_url, product.auth_url) as coordinator:
        coordinator.login("Siri Stafett", kind="staff")
        stafettlogg_id = coordinator.create_stafettlogg("Nora Nordmann", "2009-09-14", "Fravær")
        coordinator.add_service(stafettlogg_id, "sentrum-skole")
        page = coordinator.log_page(stafettlogg_id)
        assert "Legg til ungdommen</button>" in page.text
        mismatch = coordinator.submit_button(page, "Legg til ungdommen", {"youth_pid": KARI_PID})
        assert mismatch.status_code == 422
        assert "Fødselsnummeret passer ikke med barnets fødselsdato (14. september 2009)" in (
            mismatch.text
        )
        assert f'value="{KARI_PID}"' in mismatch.text
        added = coordinator.submit_button(
            coordinator.log_page(stafettlogg_id), "Legg til ungdommen", {"youth_pid": NORA_PID}
        )
        assert added.status_code == 200, added.text
        assert '<span class="role">ungdommen</span>' in added.text
        assert "Legg til ungdommen</button>" not in added.text
    with PortalBrowser(product.portal_url, product.auth_url) as nora:
        nora.login("Nora Nordmann", kind="guardian")
        assert "Nora Nordmann" in nora.get("/").text
        page = nora.log_page(stafettlogg_id)
        assert "<h1>Nora Nordmann</h1>" in page.text
        assert "Gi samtykke</button>" in page.text
        consented = nora.give_consent(stafettlogg_id, "sentrum-skole")
        assert "Samtykke gitt til og med" in consented.text
        withdrawn = nora.withdraw_consent(stafettlogg_id, "sentrum-skole")
        assert "Samtykket ble trukket tilbake" in withdrawn.text
        access_log = nora.access_log(stafettlogg_id)
    rows = access_log.text.split("<tr")
    assert any("Nora Nordmann" in row and "Ungdommen" in row for row in rows)
    assert any("trakk tilbake samtykke" in row for row in rows)
    assert NORA_PID not in product.service_output()
