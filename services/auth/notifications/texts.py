"""The words of the notification e-mails, by language. They say that something is waiting and
where to log in: never a child's name, a log's title, a service, a date or any entry's text, so
an e-mail read by the wrong person, or kept by a mail provider, tells nothing about anyone."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MailText", "mail_text"]


@dataclass(frozen=True, slots=True)
class MailText:
    subject: str
    body: str


_TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "new-entries": {
        "nb": (
            "Ny oppføring i stafettloggen",
            "Det er nye oppføringer i en stafettlogg du deltar i. Logg inn for å lese dem:\n"
            "{portal_url}\n",
        ),
        "nn": (
            "Ny oppføring i stafettloggen",
            "Det er nye oppføringar i ein stafettlogg du deltek i. Logg inn for å lese dei:\n"
            "{portal_url}\n",
        ),
        "en": (
            "New entry in the stafettlogg",
            "There are new entries in a stafettlogg you take part in. Log in to read them:\n"
            "{portal_url}\n",
        ),
    },
    "reminder": {
        "nb": (
            "Påminnelse: et tiltak skal evalueres",
            "Et tiltak i en stafettlogg du deltar i skal snart evalueres. Logg inn for å se "
            "det:\n{portal_url}\n",
        ),
        "nn": (
            "Påminning: eit tiltak skal evaluerast",
            "Eit tiltak i ein stafettlogg du deltek i skal snart evaluerast. Logg inn for å sjå "
            "det:\n{portal_url}\n",
        ),
        "en": (
            "Reminder: a measure is due for evaluation",
            "A measure in a stafettlogg you take part in is due for evaluation soon. Log in to "
            "see it:\n{portal_url}\n",
        ),
    },
}

_FOOTER = {
    "nb": "\nDu får denne e-posten fordi du har slått på varsler. Du kan slå dem av under "
    "«Varsler»:\n{portal_url}/varsler\n",
    "nn": "\nDu får denne e-posten fordi du har slått på varsel. Du kan slå dei av under "
    "«Varsel»:\n{portal_url}/varsler\n",
    "en": "\nYou get this e-mail because you turned notifications on. You can turn them off "
    "under «Notifications»:\n{portal_url}/varsler\n",
}


def mail_text(kind: str, language: str, portal_url: str) -> MailText:
    """The subject and plain-text body of a `kind` message (new-entries, reminder) in
    `language` (nb, nn, en; anything else gets bokmål)."""
    texts = _TEXTS[kind]
    lang = language if language in texts else "nb"
    subject, body = texts[lang]
    return MailText(
        subject=subject,
        body=body.format(portal_url=portal_url) + _FOOTER[lang].format(portal_url=portal_url),
    )
