"""The portal's languages: bokmål by default, nynorsk and English from Babel message catalogues.

The person chooses (a cookie that holds only the language code); templates call `_("…")` and
`ngettext(…)` through Jinja's i18n extension, which reads the language from the request being
rendered, so no state is shared between requests. Catalogues are the `.po` files under
`locale/`, compiled in memory at start: there is no build step and no binary file in the repository.

Python code never translates: it says what to show — `N_("Skriv høyst %(max)s tegn.", max=200)`,
a `ShownDate` — and every such value is put into the person's language as a template outputs it
(the environment's `finalize`). So a form error, a notice or a date built before the page is
rendered still comes out in nynorsk or English, and as a plain `str` it reads as bokmål.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import date, datetime
from io import BytesIO
from pathlib import Path
from typing import Any, Final, Literal, get_args
from zoneinfo import ZoneInfo

from babel.dates import format_date as babel_format_date
from babel.dates import format_datetime as babel_format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from litestar import Request
from markupsafe import Markup

__all__ = [
    "DEFAULT_LOCALE",
    "LOCALES",
    "LOCALE_COOKIE",
    "LOCALE_NAMES",
    "N_",
    "Locale",
    "Message",
    "Shown",
    "ShownDate",
    "ShownDateTime",
    "Translator",
    "install",
    "load_translations",
    "locale_of",
    "remember_locale",
]

Locale = Literal["nb", "nn", "en"]
LOCALES: Final[tuple[Locale, ...]] = get_args(Locale)
DEFAULT_LOCALE: Final[Locale] = "nb"
LOCALE_COOKIE: Final = "sprak"
_OSLO: Final = ZoneInfo("Europe/Oslo")
CATALOGUES: Final = Path(__file__).parent / "locale"
# Each language's name in itself, for the switch: a person finds their own language by its name.
LOCALE_NAMES: Final[dict[Locale, str]] = {"nb": "Bokmål", "nn": "Nynorsk", "en": "English"}
_BABEL_LOCALES: Final[dict[Locale, str]] = {"nb": "nb", "nn": "nn", "en": "en_GB"}
_DATE_PATTERNS: Final[dict[Locale, str]] = {"nb": "d. MMMM y", "nn": "d. MMMM y", "en": "d MMMM y"}
_TIME_PATTERNS: Final[dict[Locale, str]] = {
    "nb": "d. MMMM y 'kl.' HH:mm",
    "nn": "d. MMMM y 'kl.' HH:mm",
    "en": "d MMMM y 'at' HH:mm",
}


class Shown(str, metaclass=ABCMeta):
    """Text for a person that can be put into any of the portal's languages; as a `str` it is
    the bokmål text, so code and logs that treat it as a string see bokmål."""

    @abstractmethod
    def in_language(self, translations: NullTranslations, locale: Locale) -> str:
        """This text in `locale`."""


class Message(Shown):
    """A message from the catalogues (`msgid` in bokmål) with its named values, which are
    filled in after translating (a value that is itself `Shown` is put into the language too)."""

    msgid: str
    params: dict[str, object]

    def __new__(cls, msgid: str, /, **params: object) -> Message:
        text = msgid % {name: str(value) for name, value in params.items()} if params else msgid
        message = super().__new__(cls, text)
        message.msgid = msgid
        message.params = params
        return message

    def in_language(self, translations: NullTranslations, locale: Locale) -> str:
        translated = translations.gettext(self.msgid)
        if not self.params:
            return translated
        return translated % {
            name: value.in_language(translations, locale) if isinstance(value, Shown) else value
            for name, value in self.params.items()
        }


class ShownDate(Shown):
    """A date, «3. mai 2016» in Norwegian and «3 May 2016» in English."""

    value: date

    def __new__(cls, value: date) -> ShownDate:
        shown = super().__new__(cls, _format_date(value, DEFAULT_LOCALE))
        shown.value = value
        return shown

    def in_language(self, translations: NullTranslations, locale: Locale) -> str:
        return _format_date(self.value, locale)


class ShownDateTime(Shown):
    """A moment, «22. november 2026 kl. 10:15» in Norwegian time (a naive one is taken as it is);
    with `weekday`, «tysdag 1. desember 2026 kl. 09:30» in nynorsk, «Tuesday 1 December 2026 at
    09:30» in English, for a time a person must plan for."""

    value: datetime
    weekday: bool

    def __new__(cls, value: datetime, *, weekday: bool = False) -> ShownDateTime:
        shown = super().__new__(cls, _format_datetime(value, DEFAULT_LOCALE, weekday=weekday))
        shown.value = value
        shown.weekday = weekday
        return shown

    def in_language(self, translations: NullTranslations, locale: Locale) -> str:
        return _format_datetime(self.value, locale, weekday=self.weekday)


def _format_date(value: date, locale: Locale) -> str:
    return babel_format_date(value, _DATE_PATTERNS[locale], locale=_BABEL_LOCALES[locale])


def _format_datetime(value: datetime, locale: Locale, *, weekday: bool = False) -> str:
    # An aware moment is shown in Norwegian time; a naive one (taken as UTC by Babel when no
    # zone is given) keeps its wall-clock time.
    return babel_format_datetime(
        value,
        ("EEEE " if weekday else "") + _TIME_PATTERNS[locale],
        tzinfo=_OSLO if value.tzinfo is not None else None,
        locale=_BABEL_LOCALES[locale],
    )


def N_(message: str, /, **params: object) -> Message:  # noqa: N802 - the name gettext tools look for
    """Mark a message in Python code for the catalogues (`pybabel extract -k N_`), with the
    named values its `%(name)s` placeholders take. It is translated where it is shown."""
    return Message(message, **params)


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

    def show(self, value: str) -> str:
        """A `Shown` value (message, date) in this language; any other text as it is."""
        if isinstance(value, Shown):
            return value.in_language(self._translations, self.locale)
        return value


# The language of the request being handled, for what renders without the request in its
# context (macros imported without context). Each request runs in its own task, so a value set
# here never reaches another request.
_request_locale: ContextVar[Locale] = ContextVar("portal_locale", default=DEFAULT_LOCALE)


async def remember_locale(request: Request[Any, Any, Any]) -> None:
    """A `before_request` hook: note the request's language for the templates it renders."""
    _request_locale.set(locale_of(request))


def _locale_in(context: Context) -> Locale:
    request = context.get("request")
    return locale_of(request) if isinstance(request, Request) else _request_locale.get()


def _translations_in(context: Context) -> NullTranslations:
    catalogues: Mapping[Locale, NullTranslations] = context.environment.globals["_catalogues"]  # type: ignore[assignment]
    return catalogues.get(_locale_in(context)) or catalogues[DEFAULT_LOCALE]


@pass_context
def _finalize(context: Context, value: object) -> object:
    """What a template outputs: a `Shown` value in the request's language, the rest as it is."""
    if isinstance(value, Shown):
        return value.in_language(_translations_in(context), _locale_in(context))
    return value


@pass_context
def _current_locale(context: Context) -> Locale:
    return _locale_in(context)


def _filled(context: Context, text: str, values: Mapping[str, object]) -> str:
    """`text` translated, with `values` filled in: each escaped (autoescape) and a `Shown`
    value put into the request's language too. Always a format string, as Jinja's newstyle
    gettext: a literal percent sign is written `%%`."""
    translations, locale = _translations_in(context), _locale_in(context)
    filled = {
        name: value.in_language(translations, locale) if isinstance(value, Shown) else value
        for name, value in values.items()
    }
    # the catalogues are ours (trusted markup); `%` escapes every value filled in
    template = Markup(text) if context.eval_ctx.autoescape else text  # noqa: S704
    return template % filled


@pass_context
def _gettext(context: Context, message: str, /, **values: object) -> str:
    return _filled(context, _translations_in(context).gettext(message), values)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int, /, **values: object) -> str:
    values.setdefault("num", n)
    return _filled(context, _translations_in(context).ngettext(singular, plural, n), values)


def install(environment: Environment, translations: Mapping[Locale, NullTranslations]) -> None:
    """Give templates `_`, `gettext` and `ngettext` in the language of the request they render.

    With `newstyle` gettext, `_("Hei %(name)s", name=x)` formats after translating and escapes
    the arguments, so a translation cannot inject markup.
    """
    environment.add_extension("jinja2.ext.i18n")
    environment.globals["_catalogues"] = dict(translations)
    # What `install_gettext_callables(newstyle=True)` does, with our own newstyle callables,
    # so that a `Shown` value given to `_("… %(day)s", day=…)` comes out in the language too.
    environment.newstyle_gettext = True  # type: ignore[attr-defined]
    environment.globals.update(gettext=_gettext, ngettext=_ngettext)
    environment.globals["LOCALES"] = LOCALES
    environment.globals["LOCALE_NAMES"] = LOCALE_NAMES
    environment.globals["current_locale"] = _current_locale
    # Every `{{ … }}` passes through here, so Python's messages and dates need no filter.
    environment.finalize = _finalize
