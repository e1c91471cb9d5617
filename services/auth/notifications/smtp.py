"""Sending one plain-text e-mail with the standard library's smtplib, in a worker thread so the
event loop never waits on the network.

Why smtplib and not aiosmtplib: one message at a time every interval needs no async SMTP client,
and the standard library keeps the dependency list (and its audit) short. STARTTLS, when on, is
required: a server that does not offer it fails the send (smtplib raises) rather than falling
back to clear text. The certificate is checked against the system's trust store and the host
name. The password and the recipient's address are never logged."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from services.auth.notifications.settings import NotificationSettings
from services.auth.notifications.texts import MailText

__all__ = ["MailError", "SmtpMailer"]


class MailError(Exception):
    """The message was not accepted (server unreachable, refused, or TLS failed)."""


class SmtpMailer:
    def __init__(self, settings: NotificationSettings) -> None:
        if settings.smtp_host is None:
            raise ValueError("no SMTP host")
        self._settings = settings
        self._host = settings.smtp_host

    async def send(self, to: str, text: MailText) -> None:
        """Hand one message for `to` to the SMTP server; raises MailError if it is not taken."""
        message = EmailMessage()
        message["From"] = self._settings.mail_from
        message["To"] = to
        message["Subject"] = text.subject
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = make_msgid(domain=self._settings.mail_from.split("@")[1])
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
        message.set_content(text.body)
        try:
            await asyncio.to_thread(self._send_blocking, message)
        except (OSError, smtplib.SMTPException) as error:
            raise MailError(type(error).__name__) from None

    def _send_blocking(self, message: EmailMessage) -> None:
        settings = self._settings
        with smtplib.SMTP(
            self._host, settings.smtp_port, timeout=settings.smtp_timeout_seconds
        ) as client:
            client.ehlo()
            if settings.starttls:
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if settings.smtp_user is not None and settings.smtp_password is not None:
                client.login(settings.smtp_user, settings.smtp_password.reveal())
            client.send_message(message)
