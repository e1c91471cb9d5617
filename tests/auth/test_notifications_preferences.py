"""auth's side of «Varsler»: the settings (off without a host, STARTTLS required in production,
the password never shown), the address rule, and GET/PUT /notifications/preferences: a person's
own choice only, bad input refused with a 400 problem, nothing stored then."""

from __future__ import annotations

from typing import Any

import pytest
from joserfc.jwk import OKPKey
from litestar import Litestar
from litestar.testing import TestClient

from services.auth.notifications.addresses import normalize_address
from services.auth.notifications.settings import NotificationSettings
from services.auth.notifications.smtp import MailError, SmtpMailer
from services.auth.notifications.texts import mail_text
from services.auth.settings import Settings
from shared.settings import Mode, SettingsError
from tests.auth.conftest import KARI, SIRI
from tests.auth.test_directory_admin import Admin, _login_cookie
from tests.auth.test_notifications import Inbox, free_port, smtp  # noqa: F401 - the fixture

PRODUCTION_SMTP = {
    "STAFETT_SMTP_HOST": "smtp.kommune.example.no",
    "STAFETT_SMTP_FROM": "varsel@kommune.example.no",
}


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("kari@example.no", "kari@example.no"),
        ("  Kari.Nordmann+stafett@Example.NO ", "Kari.Nordmann+stafett@example.no"),
        ("post@bø.kommune.no", "post@xn--b-5ga.kommune.no"),
    ],
)
def test_addresses_are_normalised(raw: str, stored: str) -> None:
    assert normalize_address(raw) == stored


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "kari",
        "kari@",
        "@example.no",
        "kari@example",
        "kari@@example.no",
        "kari@example..no",
        "kari@-example.no",
        ".kari@example.no",
        "ka..ri@example.no",
        "kari nordmann@example.no",
        "kari@example.no\r\nBcc: x@example.no",
        "Kari <kari@example.no>",
        '"kari"@example.no',
        "kari@[127.0.0.1]",
        "kåri@example.no",
        "k" * 65 + "@example.no",
        "kari@" + "a" * 250 + ".no",
    ],
)
def test_what_is_not_an_address_is_refused(raw: str) -> None:
    assert normalize_address(raw) is None


def test_notifications_are_off_without_a_host_and_the_password_is_never_shown() -> None:
    assert not Settings.from_env({}).notifications.enabled
    settings = NotificationSettings.from_env(
        {
            "STAFETT_SMTP_HOST": "127.0.0.1",
            "STAFETT_SMTP_USER": "stafett",
            "STAFETT_SMTP_PASSWORD": "hemmelig-passord-42",
        },
        Mode.LOCAL,
    )
    assert settings.enabled
    assert "hemmelig-passord-42" not in repr(settings)
    assert "hemmelig-passord-42" not in str(settings)


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"STAFETT_SMTP_STARTTLS": "false"}, "STAFETT_SMTP_STARTTLS"),
        ({"STAFETT_SMTP_FROM": ""}, "STAFETT_SMTP_FROM"),
        ({"STAFETT_SMTP_FROM": "ikke en adresse"}, "STAFETT_SMTP_FROM"),
        ({"STAFETT_SMTP_PORT": "70000"}, "STAFETT_SMTP_PORT"),
        ({"STAFETT_SMTP_USER": "stafett"}, "STAFETT_SMTP_PASSWORD"),
        ({"STAFETT_NOTIFY_INTERVAL_SECONDS": "1"}, "STAFETT_NOTIFY_INTERVAL_SECONDS"),
        ({"STAFETT_NOTIFY_REMINDER_DAYS": "-1"}, "STAFETT_NOTIFY_REMINDER_DAYS"),
    ],
)
def test_production_refuses_unsafe_or_broken_smtp_settings(
    environ: dict[str, str], variable: str
) -> None:
    with pytest.raises(SettingsError, match=variable):
        NotificationSettings.from_env({**PRODUCTION_SMTP, **environ}, Mode.PRODUCTION)


def test_production_needs_an_explicit_sender() -> None:
    with pytest.raises(SettingsError, match="STAFETT_SMTP_FROM"):
        NotificationSettings.from_env({"STAFETT_SMTP_HOST": "smtp.example.no"}, Mode.PRODUCTION)
    checked = NotificationSettings.from_env(PRODUCTION_SMTP, Mode.PRODUCTION)
    assert checked.starttls


@pytest.mark.anyio
async def test_starttls_on_a_server_without_it_refuses_to_send_in_clear(
    smtp: tuple[Inbox, int],  # noqa: F811 - the fixture imported above
) -> None:
    inbox, port = smtp
    settings = NotificationSettings(smtp_host="127.0.0.1", smtp_port=port, starttls=True)
    with pytest.raises(MailError):
        await SmtpMailer(settings).send("kari@example.no", mail_text("reminder", "nb", "https://x"))
    assert inbox.messages == []


def test_the_mail_texts_name_nobody_and_nothing_in_every_language() -> None:
    for kind in ("new-entries", "reminder"):
        for language in ("nb", "nn", "en", "de"):
            text = mail_text(kind, language, "https://stafett.kommune.no")
            assert "https://stafett.kommune.no\n" in text.body
            assert "https://stafett.kommune.no/varsler" in text.body
    assert mail_text("reminder", "de", "https://x") == mail_text("reminder", "nb", "https://x")


@pytest.fixture
def kari(client: TestClient[Litestar], portal_key: OKPKey) -> Admin:
    return Admin(client, portal_key, _login_cookie(client, "guardian", KARI))


def test_a_person_reads_and_sets_their_own_choice(
    client: TestClient[Litestar], portal_key: OKPKey, kari: Admin
) -> None:
    assert kari("GET", "/notifications/preferences").json() == {
        "email": None,
        "enabled": True,
        "language": "nb",
    }
    stored = kari(
        "PUT",
        "/notifications/preferences",
        json={"email": " Kari@Example.NO", "enabled": False, "language": "nn"},
    )
    assert stored.status_code == 200, stored.text
    expected = {"email": "Kari@example.no", "enabled": False, "language": "nn"}
    assert stored.json() == expected
    assert kari("GET", "/notifications/preferences").json() == expected
    siri = Admin(client, portal_key, _login_cookie(client, "staff", SIRI))
    assert siri("GET", "/notifications/preferences").json()["email"] is None  # not Kari's
    cleared = kari("PUT", "/notifications/preferences", json={"email": "", "enabled": True})
    assert cleared.json() == {"email": None, "enabled": True, "language": "nb"}


@pytest.mark.parametrize(
    "body",
    [
        {"email": "ikke-en-adresse", "enabled": True},
        {"email": "kari@example.no\r\nBcc: x@example.no", "enabled": True},
        {"email": "k" * 400 + "@example.no", "enabled": True},
        {"email": "kari@example.no", "enabled": "ja"},
        {"email": "kari@example.no", "enabled": True, "language": "de"},
        {"email": "kari@example.no", "enabled": True, "subject": "p_someone_else"},
        {"enabled": True},
    ],
)
def test_bad_input_is_a_400_problem_and_changes_nothing(kari: Admin, body: dict[str, Any]) -> None:
    answer = kari("PUT", "/notifications/preferences", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert kari("GET", "/notifications/preferences").json()["email"] is None


def test_preferences_need_a_bearer_token(client: TestClient[Litestar]) -> None:
    assert client.get("/notifications/preferences").status_code == 401
    answer = client.put("/notifications/preferences", json={"email": None, "enabled": True})
    assert answer.status_code == 401
