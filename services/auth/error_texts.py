"""What auth's own pages say when a login or logout cannot go on, in the person's language.

The portal sends the person's language to `/login` as `ui_locales` (the same value ID-porten
gets); auth keeps it in a cookie of its own for the rest of the attempt, so the callback, the
logout and the rate limit's refusal speak it too. Bokmål when nothing says otherwise.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from litestar import Request

from services.auth.oidc import UI_LOCALES
from services.auth.settings import Settings

__all__ = [
    "LANGUAGE_COOKIE_MAX_AGE",
    "Language",
    "error_text",
    "home_link",
    "language_cookie",
    "language_of",
]

Language = Literal["nb", "nn", "en"]
LANGUAGE_COOKIE_MAX_AGE: Final = 365 * 24 * 3600

_DEFAULT: Final = "default"
_MESSAGES: Final[dict[str, dict[Language, str]]] = {
    _DEFAULT: {
        "nb": "Innloggingen mislyktes. Prøv igjen.",
        "nn": "Innlogginga mislukkast. Prøv igjen.",
        "en": "The login failed. Please try again.",
    },
    "kind": {
        "nb": "Ukjent innloggingstype. Velg innlogging for foresatte eller for ansatte.",
        "nn": "Ukjend innloggingstype. Vel innlogging for føresette eller for tilsette.",
        "en": "Unknown kind of login. Choose the login for guardians or for staff.",
    },
    "next": {
        "nb": "Adressen du skulle sendes tilbake til, er ikke gyldig.",
        "nn": "Adressa du skulle sendast tilbake til, er ikkje gyldig.",
        "en": "The address you were to be sent back to is not valid.",
    },
    "ui_locales": {
        "nb": "Ukjent språk. Velg bokmål, nynorsk eller engelsk.",
        "nn": "Ukjent språk. Vel bokmål, nynorsk eller engelsk.",
        "en": "Unknown language. Choose Bokmål, Nynorsk or English.",
    },
    "state": {
        "nb": "Vi kunne ikke knytte svaret til innloggingen din. Start innloggingen på nytt.",
        "nn": "Vi kunne ikkje knyte svaret til innlogginga di. Start innlogginga på nytt.",
        "en": "We could not match the answer to your login. Please start the login again.",
    },
    "expired": {
        "nb": "Innloggingen tok for lang tid eller er allerede fullført. Prøv igjen.",
        "nn": "Innlogginga tok for lang tid eller er allereie fullført. Prøv igjen.",
        "en": "The login took too long or is already complete. Please try again.",
    },
    "cancelled": {
        "nb": "Innloggingen ble avbrutt.",
        "nn": "Innlogginga vart avbroten.",
        "en": "The login was cancelled.",
    },
    "iss": {
        "nb": "Svaret kom fra en annen innloggingstjeneste enn den du ble sendt til.",
        "nn": "Svaret kom frå ei anna innloggingsteneste enn den du vart send til.",
        "en": "The answer came from another login service than the one you were sent to.",
    },
    "token": {
        "nb": "Vi kunne ikke bekrefte innloggingen. Prøv igjen.",
        "nn": "Vi kunne ikkje stadfeste innlogginga. Prøv igjen.",
        "en": "We could not confirm the login. Please try again.",
    },
    "acr": {
        "nb": "Innloggingen har for lavt sikkerhetsnivå. Logg inn med BankID, Buypass eller "
        "Commfides (høyt sikkerhetsnivå).",
        "nn": "Innlogginga har for lågt tryggleiksnivå. Logg inn med BankID, Buypass eller "
        "Commfides (høgt tryggleiksnivå).",
        "en": "The login's level of assurance is too low. Log in with BankID, Buypass or "
        "Commfides (high level).",
    },
    "not_staff": {
        "nb": "Du er ikke registrert som ansatt i stafettloggen. Ta kontakt med administratoren "
        "i kommunen.",
        "nn": "Du er ikkje registrert som tilsett i stafettloggen. Ta kontakt med "
        "administratoren i kommunen.",
        "en": "You are not registered as staff in the stafettlogg. Contact the municipality's "
        "administrator.",
    },
    "origin": {
        "nb": "Forespørselen kom fra en side vi ikke kjenner.",
        "nn": "Førespurnaden kom frå ei side vi ikkje kjenner.",
        "en": "The request came from a page we do not know.",
    },
    "logout_state": {
        "nb": "Vi kunne ikke knytte svaret til utloggingen din. Du er likevel logget ut av "
        "stafettloggen.",
        "nn": "Vi kunne ikkje knyte svaret til utlogginga di. Du er likevel logga ut av "
        "stafettloggen.",
        "en": "We could not match the answer to your logout. You are logged out of the "
        "stafettlogg all the same.",
    },
    "provider": {
        "nb": "Innloggingstjenesten svarer ikke som den skal. Prøv igjen om litt.",
        "nn": "Innloggingstenesta svarar ikkje som ho skal. Prøv igjen om litt.",
        "en": "The login service is not answering as it should. Please try again shortly.",
    },
    "too_many": {
        "nb": "Du har prøvd for mange ganger på kort tid. Vent litt, og prøv igjen.",
        "nn": "Du har prøvd for mange gonger på kort tid. Vent litt, og prøv igjen.",
        "en": "You have tried too many times in a short while. Wait a little and try again.",
    },
    "unavailable": {
        "nb": "Vi kan ikke ta imot innloggingen akkurat nå. Prøv igjen om litt.",
        "nn": "Vi kan ikkje ta imot innlogginga akkurat no. Prøv igjen om litt.",
        "en": "We cannot take the login right now. Please try again shortly.",
    },
}
_MESSAGES["id_token"] = _MESSAGES["token"]

_TITLES: Final[dict[str, dict[Language, str]]] = {
    _DEFAULT: {
        "nb": "Innloggingen mislyktes",
        "nn": "Innlogginga mislukkast",
        "en": "The login failed",
    },
    "origin": {"nb": "Ikke tillatt", "nn": "Ikkje tillate", "en": "Not allowed"},
    "logout_state": {
        "nb": "Utloggingen kunne ikke bekreftes",
        "nn": "Utlogginga kunne ikkje stadfestast",
        "en": "The logout could not be confirmed",
    },
    "too_many": {"nb": "For mange forsøk", "nn": "For mange forsøk", "en": "Too many attempts"},
    "unavailable": {
        "nb": "Tjenesten er midlertidig utilgjengelig",
        "nn": "Tenesta er mellombels utilgjengeleg",
        "en": "The service is temporarily unavailable",
    },
}

_HOME: Final[dict[Language, str]] = {
    "nb": "Gå til forsiden",
    "nn": "Gå til framsida",
    "en": "Go to the front page",
}


def language_cookie(settings: Settings) -> str:
    return "__Host-stafett_sprak" if settings.secure_cookies else "stafett_sprak"


def language_of(request: Request[Any, Any, Any], settings: Settings) -> Language:
    """`ui_locales` of this request if it names one of ours, else the attempt's cookie, else nb."""
    for chosen in (
        request.query_params.get("ui_locales"),
        request.cookies.get(language_cookie(settings)),
    ):
        if chosen in UI_LOCALES:
            return chosen  # type: ignore[return-value]  # one of the three, checked above
    return "nb"


def error_text(reason: str, language: Language) -> tuple[str, str]:
    """The page's title and message for a refusal `reason`."""
    title = _TITLES.get(reason, _TITLES[_DEFAULT])[language]
    message = _MESSAGES.get(reason, _MESSAGES[_DEFAULT])[language]
    return title, message


def home_link(language: Language) -> str:
    return _HOME[language]
