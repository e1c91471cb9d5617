"""Content-free e-mail notifications and evaluation reminders (docs/operations.md, Varsler)."""

from services.auth.notifications.settings import NotificationSettings

__all__ = ["NotificationSettings"]
