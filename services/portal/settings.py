"""The portal's settings: read once from one mapping (normally `os.environ`), validated at start."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from joserfc.jwk import OKPKey

from shared.keyfiles import load_or_create_signing_jwk
from shared.settings import Mode, SettingsError, env_str, load_or_create_secret

__all__ = ["CLIENT_ID", "Settings"]

CLIENT_ID = "stafett-portal"  # the portal's OAuth client id at auth


def _base_url(environ: Mapping[str, str], name: str, default: str) -> str:
    url = env_str(environ, name, default).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise SettingsError(f"{name} must be an absolute http(s) URL")
    if parts.query or parts.fragment:
        raise SettingsError(f"{name} must not have a query or fragment")
    return url


DEFAULT_LOGOUT_ORIGINS = (
    "https://login.idporten.no",
    "https://login.test.idporten.no",
    "https://login.ansattporten.no",
    "https://login.test.ansattporten.no",
)


def _origin(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or parts.path not in {"", "/"}:
        raise SettingsError(f"{name} must list https origins, like https://login.idporten.no")
    return f"https://{parts.netloc}"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the portal needs to run. Build with `Settings.from_env(os.environ)`."""

    mode: Mode
    data_dir: Path
    portal_url: str
    auth_url: str  # both the address the browser is sent to and the one the portal calls
    logg_url: str
    client_key: OKPKey  # the portal's Ed25519 private key for private_key_jwt (RFC 7523)
    csrf_secret: bytes
    # Where the logout form's redirects may lead: Chromium applies CSP form-action to the
    # redirects after a form post (portal → auth → the IdP's end-session → auth → portal).
    logout_origins: tuple[str, ...] = DEFAULT_LOGOUT_ORIGINS

    def __repr__(self) -> str:  # never print keys or secrets
        return (
            f"Settings(mode={self.mode.value!r}, portal_url={self.portal_url!r}, "
            f"auth_url={self.auth_url!r}, logg_url={self.logg_url!r})"
        )

    @property
    def session_cookie_name(self) -> str:
        """The name of auth's session cookie, which the browser also sends to the portal."""
        if self.mode is Mode.PRODUCTION:
            return "__Host-stafett_session"
        return "stafett_session"

    @property
    def secure_cookies(self) -> bool:
        return self.mode is Mode.PRODUCTION

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        raw_mode = env_str(environ, "STAFETT_MODE", Mode.LOCAL.value)
        try:
            mode = Mode(raw_mode)
        except ValueError as error:
            raise SettingsError("STAFETT_MODE must be local or production") from error
        data_dir = Path(env_str(environ, "STAFETT_DATA_DIR", "./var"))
        portal_url = _base_url(environ, "STAFETT_PORTAL_URL", "http://127.0.0.1:8000")
        auth_url = _base_url(environ, "STAFETT_AUTH_URL", "http://127.0.0.1:8001")
        logg_url = _base_url(environ, "STAFETT_LOGG_URL", "http://127.0.0.1:8002")
        if mode is Mode.PRODUCTION:
            for name, url in (
                ("STAFETT_PORTAL_URL", portal_url),
                ("STAFETT_AUTH_URL", auth_url),
            ):
                if not url.startswith("https://"):
                    raise SettingsError(f"{name} must use https in production")
        key_file = Path(
            env_str(
                environ,
                "STAFETT_PORTAL_CLIENT_KEY_FILE",
                str(data_dir / "keys" / "portal-client.json"),
            )
        )
        client_key = load_or_create_signing_jwk(key_file, mode=mode)
        csrf_secret = load_or_create_secret(data_dir / "keys" / "portal-csrf", mode=mode)
        logout_origins = tuple(
            _origin("STAFETT_PORTAL_LOGOUT_ORIGINS", origin)
            for origin in env_str(
                environ, "STAFETT_PORTAL_LOGOUT_ORIGINS", " ".join(DEFAULT_LOGOUT_ORIGINS)
            ).split()
        )
        return cls(
            mode=mode,
            data_dir=data_dir,
            portal_url=portal_url,
            auth_url=auth_url,
            logg_url=logg_url,
            client_key=client_key,
            csrf_secret=csrf_secret,
            logout_origins=logout_origins,
        )
