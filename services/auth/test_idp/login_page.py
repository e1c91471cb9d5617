"""The test IdP's login page in the language the client asked for (`ui_locales`), as ID-porten
shows its own in bokmål, nynorsk or English. Only the test IdP uses this; it is not the portal's
catalogue."""

from __future__ import annotations

from typing import Final

__all__ = ["LOGIN_TEXTS", "PAGE_LOCALES", "page_locale"]

PAGE_LOCALES: Final = ("nb", "nn", "en")
# ID-porten also takes Sami (se); the test IdP shows bokmål for it.
_ACCEPTED: Final = (*PAGE_LOCALES, "se")

LOGIN_TEXTS: Final[dict[str, dict[str, str]]] = {
    "nb": {
        "title": "Test-ID: velg testperson",
        "heading": "Logg inn med Test-ID",
        "intro": "Dette er en testinnlogging for lokal bruk. Velg hvem du vil logge inn som.",
        "acr": "Sikkerhetsnivå",
        "high": "Høyt (idporten-loa-high)",
        "substantial": "Betydelig (idporten-loa-substantial)",
        "guardians": "Foresatte og ungdom",
        "staff": "Ansatte",
        "cancel": "Avbryt",
    },
    "nn": {
        "title": "Test-ID: vel testperson",
        "heading": "Logg inn med Test-ID",
        "intro": "Dette er ei testinnlogging for lokal bruk. Vel kven du vil logge inn som.",
        "acr": "Tryggleiksnivå",
        "high": "Høgt (idporten-loa-high)",
        "substantial": "Betydeleg (idporten-loa-substantial)",
        "guardians": "Føresette og ungdom",
        "staff": "Tilsette",
        "cancel": "Avbryt",
    },
    "en": {
        "title": "Test ID: choose a test person",
        "heading": "Log in with Test ID",
        "intro": "This is a test login for local use. Choose who you want to log in as.",
        "acr": "Level of assurance",
        "high": "High (idporten-loa-high)",
        "substantial": "Substantial (idporten-loa-substantial)",
        "guardians": "Guardians and young people",
        "staff": "Staff",
        "cancel": "Cancel",
    },
}


def page_locale(ui_locales: str) -> str | None:
    """The page's language for a `ui_locales` value (space-separated preferences, OIDC Core
    3.1.2.1): the first one ID-porten knows, shown in bokmål if we have no page for it; None
    when it names none of them (the caller refuses the request)."""
    for tag in ui_locales.split()[:8]:
        if tag in _ACCEPTED:
            return tag if tag in PAGE_LOCALES else "nb"
    return None
