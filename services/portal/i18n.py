"""The portal's languages: bokmål by default, nynorsk and English from Babel message catalogues.

The person chooses (a cookie that holds only the language code); templates call `_("…")` and
`ngettext(…)` through Jinja's i18n extension, which reads the language from the request being
rendered, so no state is shared between requests. Catalogues are the `.po` files under
`locale/`, compiled in memory at start: there is no build step and no binary file in the repository.
"""

from __future__ import annotations

from collections.abc import Mapping
from io import BytesIO
from pathlib import Path
from typing import Any, Final, Literal, get_args

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from litestar import Request

__all__ = [
    "DEFAULT_LOCALE",
    "LOCALES",
    "LOCALE_COOKIE",
    "N_",
    "Locale",
    "Translator",
    "install",
    "load_translations",
    "locale_of",
]

Locale = Literal["nb", "nn", "en"]
LOCALES: Final[tuple[Locale, ...]] = get_args(Locale)
DEFAULT_LOCALE: Final[Locale] = "nb"
LOCALE_COOKIE: Final = "sprak"
CATALOGUES: Final = Path(__file__).parent / "locale"


def N_(message: str) -> str:  # noqa: N802 - the name gettext tools look for
    """Mark a message in Python code for the catalogues; it is translated where it is shown,
    by the template (`{{ _(message) }}`) or by a `Translator` for the request's language."""
    return message


def load_translations(directory: Path = CATALOGUES) -> dict[Locale, NullTranslations]:
    """Every language's translations; bokmål is the source language and needs none."""
    loaded: dict[Locale, NullTranslations] = {DEFAULT_LOCALE: NullTranslations()}
    for locale in LOCALES:
        po = directory / locale / "LC_MESSAGES" / "messages.po"
        if locale == DEFAULT_LOCALE or not po.is_file():
            continue
        with po.open("rb") as source:
            catalog = read_po(source, locale=locale)
        compiled = BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        loaded[locale] = Translations(fp=compiled)
    return loaded


def locale_of(request: Request[Any, Any, Any]) -> Locale:
    """The language the person chose, or bokmål."""
    chosen = request.cookies.get(LOCALE_COOKIE, "")
    return chosen if chosen in LOCALES else DEFAULT_LOCALE


class Translator:
    """Translates for one request's language; what Python code (messages, labels) uses."""

    def __init__(self, translations: Mapping[Locale, NullTranslations], locale: Locale) -> None:
        self.locale = locale
        self._translations = translations.get(locale) or NullTranslations()

    def gettext(self, message: str) -> str:
        return self._translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._translations.ngettext(singular, plural, n)


def _translations_in(context: Context) -> NullTranslations:
    catalogues: Mapping[Locale, NullTranslations] = context.environment.globals["_catalogues"]  # type: ignore[assignment]
    request = context.get("request")
    locale = locale_of(request) if isinstance(request, Request) else DEFAULT_LOCALE
    return catalogues.get(locale) or catalogues[DEFAULT_LOCALE]


@pass_context
def _gettext(context: Context, message: str) -> str:
    return _translations_in(context).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return _translations_in(context).ngettext(singular, plural, n)


def install(environment: Environment, translations: Mapping[Locale, NullTranslations]) -> None:
    """Give templates `_`, `gettext` and `ngettext` in the language of the request they render.

    With `newstyle` gettext, `_("Hei %(name)s", name=x)` formats after translating and escapes
    the arguments, so a translation cannot inject markup.
    """
    environment.add_extension("jinja2.ext.i18n")
    environment.globals["_catalogues"] = dict(translations)
    environment.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    environment.globals["LOCALES"] = LOCALES
