"""The notifier's settings (STAFETT_SMTP_*, STAFETT_NOTIFY_*), read with auth's and checked at
start. Notifications are off unless STAFETT_SMTP_HOST is set."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from services.auth.notifications.addresses import normalize_address
from services.auth.secrets import Secret, env_secret
from shared.settings import Mode, SettingsError, env_bool, env_int, env_str

__all__ = ["NotificationSettings"]


class NotificationSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Where and how the notifier sends e-mail, and how often it asks logg."""

    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: Secret | None = None
    mail_from: str = "noreply@stafettlogg.local"
    starttls: bool = True
    interval_seconds: int = 60
    reminder_days: int = 3
    smtp_timeout_seconds: int = 20

    @property
    def enabled(self) -> bool:
        return self.smtp_host is not None

    def check(self, mode: Mode) -> None:
        """Raise SettingsError naming the variable for anything that cannot work, and in
        production mode for a notifier that would send without STARTTLS."""
        if not self.enabled:
            return
        if not 1 <= self.smtp_port <= 65535:
            raise SettingsError("STAFETT_SMTP_PORT must be between 1 and 65535")
        if normalize_address(self.mail_from) is None:
            raise SettingsError("STAFETT_SMTP_FROM must be an e-mail address")
        if (self.smtp_user is None) != (self.smtp_password is None):
            raise SettingsError("STAFETT_SMTP_USER and STAFETT_SMTP_PASSWORD go together")
        if mode is Mode.PRODUCTION and not self.starttls:
            raise SettingsError(
                "STAFETT_SMTP_STARTTLS must be on in production mode: mail and the SMTP "
                "password would cross the network in clear"
            )
        if not 5 <= self.interval_seconds <= 86400:
            raise SettingsError("STAFETT_NOTIFY_INTERVAL_SECONDS must be between 5 and 86400")
        if not 0 <= self.reminder_days <= 60:
            raise SettingsError("STAFETT_NOTIFY_REMINDER_DAYS must be between 0 and 60")
        if not 1 <= self.smtp_timeout_seconds <= 300:
            raise SettingsError("STAFETT_SMTP_TIMEOUT_SECONDS must be between 1 and 300")

    @classmethod
    def from_env(cls, environ: Mapping[str, str], mode: Mode) -> NotificationSettings:
        host = environ.get("STAFETT_SMTP_HOST", "").strip() or None
        user = environ.get("STAFETT_SMTP_USER", "").strip() or None
        password = env_secret(environ, "STAFETT_SMTP_PASSWORD")
        settings = cls(
            smtp_host=host,
            smtp_port=env_int(environ, "STAFETT_SMTP_PORT", 587),
            smtp_user=user,
            smtp_password=password,
            # In production the sender is the municipality's to choose: no silent default.
            mail_from=env_str(
                environ,
                "STAFETT_SMTP_FROM",
                "noreply@stafettlogg.local" if mode is Mode.LOCAL or host is None else None,
            ),
            starttls=env_bool(environ, "STAFETT_SMTP_STARTTLS", True),
            interval_seconds=env_int(environ, "STAFETT_NOTIFY_INTERVAL_SECONDS", 60),
            reminder_days=env_int(environ, "STAFETT_NOTIFY_REMINDER_DAYS", 3),
            smtp_timeout_seconds=env_int(environ, "STAFETT_SMTP_TIMEOUT_SECONDS", 20),
        )
        settings.check(mode)
        return settings
