"""The test IdP login form's own CSRF token.

The login page sets a random binding cookie (HttpOnly, SameSite=Strict, Path=/test-idp) and puts
`HMAC-SHA256(key, request_id, binding)` in a hidden field. The form's POST is served only when
the field matches the pending authorization it names and the browser's cookie: another site
cannot post a login (its own or someone else's pending request) from a victim's browser.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

__all__ = ["CSRF_COOKIE", "CSRF_FIELD", "LoginFormCsrf"]

CSRF_COOKIE = "stafett_test_idp_csrf"
CSRF_FIELD = "csrf_token"
_BINDING = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True, slots=True)
class LoginFormCsrf:
    """Makes and checks the login form's token; the key lives as long as the process."""

    key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    @staticmethod
    def binding_for(cookie_value: str | None) -> str:
        """The browser's binding: its existing cookie if well formed, else a fresh one."""
        if cookie_value is not None and _BINDING.fullmatch(cookie_value):
            return cookie_value
        return secrets.token_urlsafe(32)

    def token(self, request_id: str, binding: str) -> str:
        return hmac.new(self.key, f"{request_id}\x00{binding}".encode(), hashlib.sha256).hexdigest()

    def is_valid(self, request_id: str, binding: str | None, token: str | None) -> bool:
        """True only for the token made for this pending request and this browser's cookie."""
        if not request_id or not binding or not token or not _BINDING.fullmatch(binding):
            return False
        return hmac.compare_digest(self.token(request_id, binding).encode(), token.encode())
