"""auth's settings, read once from the environment (or any mapping) and validated at start."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec

from services.auth.notifications.settings import NotificationSettings
from services.auth.oidc import ACR_LEVELS
from services.auth.secrets import Secret, env_optional, env_secret
from shared.keyfiles import public_path_for
from shared.settings import Mode, SettingsError, env_bool, env_int, env_str

__all__ = [
    "AUTH_AUDIENCE",
    "DEFAULT_FRAME_ANCESTORS_LOGOUT",
    "LOGG_AUDIENCE",
    "PORTAL_CLIENT_ID",
    "Settings",
]

LOGG_AUDIENCE = "stafett-logg"
AUTH_AUDIENCE = "stafett-auth"
PORTAL_CLIENT_ID = "stafett-portal"
_LOCAL_IDPORTEN_CLIENT_ID = "stafettlogg-idporten"
_LOCAL_ANSATTPORTEN_CLIENT_ID = "stafettlogg-ansattporten"


_CLIENT_AUTH_METHODS = ("private_key_jwt", "client_secret_basic")


# The ID-porten and Ansattporten login hosts, which load front-channel logout in an iframe.
DEFAULT_FRAME_ANCESTORS_LOGOUT = (
    "https://login.idporten.no",
    "https://login.test.idporten.no",
    "https://login.ansattporten.no",
    "https://login.test.ansattporten.no",
)


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything auth needs to start. Secrets are not here: only the paths to them."""

    mode: Mode = Mode.LOCAL
    data_dir: Path = Path("var")
    portal_url: str = "http://127.0.0.1:8000"
    auth_url: str = "http://127.0.0.1:8001"
    logg_url: str = "http://127.0.0.1:8002"
    database_url: str
    kek_file: Path
    # Where the KEK lives (services.auth.custody.startup): file (kek_file), env (STAFETT_KEK,
    # the key itself) or vault (a Vault/OpenBao transit key; the KEK never leaves Vault).
    kek_backend: str = "file"
    kek: Secret | None = None
    vault_addr: str | None = None
    vault_token: Secret | None = None  # auth's token at Vault, not an IdP client secret
    vault_transit_mount: str = "transit"
    vault_transit_key: str = "stafett-kek"
    pid_hmac_key_file: Path
    portal_client_jwks_file: Path
    client_key_file: Path  # auth's own RSA key for private_key_jwt at ID-porten/Ansattporten
    guardian_acr: str = "idporten-loa-high"
    staff_acr: str = "idporten-loa-substantial"
    idporten_issuer: str
    idporten_client_id: str
    ansattporten_issuer: str
    ansattporten_client_id: str
    idporten_client_auth: str = "private_key_jwt"  # or client_secret_basic
    idporten_client_secret: Secret | None = None
    ansattporten_client_auth: str = "private_key_jwt"
    ansattporten_client_secret: Secret | None = None
    test_idp: bool = True
    session_idle_seconds: int = 30 * 60
    session_absolute_seconds: int = 12 * 60 * 60
    token_key_rotation_hours: int = 24  # services.auth.signing_keys
    # Hardening (sessions in Redis, rate limits, proxies, framing): see docs/operations.md.
    session_redis_url: str | None = None
    rate_limit_redis_url: str | None = None
    redis_key_prefix: str = "stafett:auth:"
    rate_limit_login_per_minute: int = 30
    rate_limit_login_per_account_per_minute: int = 10
    # /token and /session are called by the portal for every person it serves, one exchange per
    # call to logg (tokens are single-use): the per-address limit meters a whole portal
    # instance, so it is a flood guard; the per-account limit meters one person.
    rate_limit_token_per_minute: int = 30000
    rate_limit_token_per_account_per_minute: int = 600
    trusted_proxies: tuple[str, ...] = ()
    frame_ancestors_logout: tuple[str, ...] = DEFAULT_FRAME_ANCESTORS_LOGOUT
    # E-mail notifications and reminders (services.auth.notifications): off without a host.
    notifications: NotificationSettings = msgspec.field(default_factory=NotificationSettings)

    def __post_init__(self) -> None:
        if self.mode is Mode.PRODUCTION and self.test_idp:
            raise SettingsError(
                "STAFETT_TEST_IDP must be off in production mode: the test identity provider "
                "lets anyone log in as anyone"
            )
        for name in (
            "portal_url",
            "auth_url",
            "logg_url",
            "idporten_issuer",
            "ansattporten_issuer",
        ):
            url = getattr(self, name)
            parts = urlsplit(url)
            if parts.scheme not in {"http", "https"} or not parts.hostname:
                raise SettingsError(f"{name} must be an absolute http(s) URL")
            if name.endswith("_url") and url.endswith("/"):
                raise SettingsError(f"{name} must not end with /")
            if self.mode is Mode.PRODUCTION and parts.scheme != "https":
                raise SettingsError(f"{name} must use https in production mode")
        for provider in ("idporten", "ansattporten"):
            method = getattr(self, f"{provider}_client_auth")
            if method not in _CLIENT_AUTH_METHODS:
                raise SettingsError(
                    f"STAFETT_{provider.upper()}_CLIENT_AUTH must be private_key_jwt or "
                    "client_secret_basic"
                )
            if (
                method == "client_secret_basic"
                and getattr(self, f"{provider}_client_secret") is None
            ):
                raise SettingsError(
                    f"STAFETT_{provider.upper()}_CLIENT_SECRET (or _FILE) must be set for "
                    "client_secret_basic"
                )
        for name, acr in (
            ("STAFETT_GUARDIAN_ACR", self.guardian_acr),
            ("STAFETT_STAFF_ACR", self.staff_acr),
        ):
            if acr not in ACR_LEVELS:
                raise SettingsError(f"{name} must be one of {', '.join(ACR_LEVELS)}")
        if self.session_idle_seconds <= 0 or self.session_absolute_seconds <= 0:
            raise SettingsError("session lifetimes must be positive")
        if not 1 <= self.token_key_rotation_hours <= 24 * 366:
            raise SettingsError("STAFETT_TOKEN_KEY_ROTATION_HOURS must be between 1 and 8784")
        _check_hardening(self)
        _check_kek(self)
        self.notifications.check(self.mode)

    @property
    def test_idp_issuer(self) -> str:
        return f"{self.auth_url}/test-idp"

    @property
    def callback_url(self) -> str:
        return f"{self.auth_url}/callback"

    @property
    def frontchannel_logout_url(self) -> str:
        return f"{self.auth_url}/frontchannel-logout"

    @property
    def post_logout_redirect_url(self) -> str:
        return f"{self.auth_url}/logout/done"

    @property
    def secure_cookies(self) -> bool:
        return self.mode is Mode.PRODUCTION

    @property
    def session_cookie_name(self) -> str:
        return "__Host-stafett_session" if self.secure_cookies else "stafett_session"

    @property
    def login_cookie_name(self) -> str:
        return "__Host-stafett_login" if self.secure_cookies else "stafett_login"

    @property
    def test_idp_key_file(self) -> Path:
        return self.data_dir / "keys" / "test-idp.json"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read and validate the STAFETT_* variables; raises SettingsError naming the variable."""
        try:
            mode = Mode(environ.get("STAFETT_MODE", "local") or "local")
        except ValueError as error:
            raise SettingsError("STAFETT_MODE must be local or production") from error
        local = mode is Mode.LOCAL
        data_dir = Path(env_str(environ, "STAFETT_DATA_DIR", "./var"))
        keys = data_dir / "keys"
        auth_url = env_str(environ, "STAFETT_AUTH_URL", "http://127.0.0.1:8001").rstrip("/")
        test_idp = env_bool(environ, "STAFETT_TEST_IDP", local)
        test_issuer = f"{auth_url}/test-idp" if local else None
        portal_client_key_file = Path(
            env_str(environ, "STAFETT_PORTAL_CLIENT_KEY_FILE", str(keys / "portal-client.json"))
        )

        def client_id(name: str, local_default: str) -> str:
            return env_str(environ, name, local_default if local else None)

        return cls(
            mode=mode,
            data_dir=data_dir,
            portal_url=env_str(environ, "STAFETT_PORTAL_URL", "http://127.0.0.1:8000").rstrip("/"),
            auth_url=auth_url,
            logg_url=env_str(environ, "STAFETT_LOGG_URL", "http://127.0.0.1:8002").rstrip("/"),
            database_url=env_str(
                environ, "STAFETT_AUTH_DATABASE_URL", f"sqlite+aiosqlite:///{data_dir}/auth.db"
            ),
            kek_file=Path(env_str(environ, "STAFETT_KEK_FILE", str(keys / "kek"))),
            **_kek_from_env(environ),
            pid_hmac_key_file=Path(
                env_str(environ, "STAFETT_PID_HMAC_KEY_FILE", str(keys / "pid-hmac"))
            ),
            portal_client_jwks_file=Path(
                env_str(
                    environ,
                    "STAFETT_PORTAL_CLIENT_JWKS_FILE",
                    str(public_path_for(portal_client_key_file)),
                )
            ),
            client_key_file=Path(
                env_str(environ, "STAFETT_AUTH_CLIENT_KEY_FILE", str(keys / "auth-client.json"))
            ),
            guardian_acr=env_str(environ, "STAFETT_GUARDIAN_ACR", "idporten-loa-high"),
            staff_acr=env_str(environ, "STAFETT_STAFF_ACR", "idporten-loa-substantial"),
            idporten_issuer=env_str(environ, "STAFETT_IDPORTEN_ISSUER", test_issuer),
            idporten_client_id=client_id("STAFETT_IDPORTEN_CLIENT_ID", _LOCAL_IDPORTEN_CLIENT_ID),
            ansattporten_issuer=env_str(environ, "STAFETT_ANSATTPORTEN_ISSUER", test_issuer),
            ansattporten_client_id=client_id(
                "STAFETT_ANSATTPORTEN_CLIENT_ID", _LOCAL_ANSATTPORTEN_CLIENT_ID
            ),
            idporten_client_auth=env_str(
                environ, "STAFETT_IDPORTEN_CLIENT_AUTH", "private_key_jwt"
            ),
            idporten_client_secret=env_secret(environ, "STAFETT_IDPORTEN_CLIENT_SECRET"),
            ansattporten_client_auth=env_str(
                environ, "STAFETT_ANSATTPORTEN_CLIENT_AUTH", "private_key_jwt"
            ),
            ansattporten_client_secret=env_secret(environ, "STAFETT_ANSATTPORTEN_CLIENT_SECRET"),
            test_idp=test_idp,
            session_idle_seconds=env_int(environ, "STAFETT_SESSION_IDLE_SECONDS", 30 * 60),
            session_absolute_seconds=env_int(
                environ, "STAFETT_SESSION_ABSOLUTE_SECONDS", 12 * 60 * 60
            ),
            token_key_rotation_hours=env_int(environ, "STAFETT_TOKEN_KEY_ROTATION_HOURS", 24),
            **_hardening_from_env(environ),
            notifications=NotificationSettings.from_env(environ, mode),
        )


def _env_list(environ: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    return tuple(item for item in raw.replace(",", " ").split() if item)


def _hardening_from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    session_redis_url = env_optional(environ, "STAFETT_SESSION_REDIS_URL")
    return {
        "session_redis_url": session_redis_url,
        "rate_limit_redis_url": env_optional(environ, "STAFETT_RATE_LIMIT_REDIS_URL")
        or session_redis_url,
        "redis_key_prefix": env_str(environ, "STAFETT_REDIS_KEY_PREFIX", "stafett:auth:"),
        "rate_limit_login_per_minute": env_int(environ, "STAFETT_RATE_LIMIT_LOGIN_PER_MINUTE", 30),
        "rate_limit_login_per_account_per_minute": env_int(
            environ, "STAFETT_RATE_LIMIT_LOGIN_PER_ACCOUNT_PER_MINUTE", 10
        ),
        "rate_limit_token_per_minute": env_int(
            environ, "STAFETT_RATE_LIMIT_TOKEN_PER_MINUTE", 30000
        ),
        "rate_limit_token_per_account_per_minute": env_int(
            environ, "STAFETT_RATE_LIMIT_TOKEN_PER_ACCOUNT_PER_MINUTE", 600
        ),
        "trusted_proxies": _env_list(environ, "STAFETT_TRUSTED_PROXIES", ()),
        "frame_ancestors_logout": _env_list(
            environ, "STAFETT_FRAME_ANCESTORS_LOGOUT", DEFAULT_FRAME_ANCESTORS_LOGOUT
        ),
    }


def _kek_from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    return {
        "kek_backend": env_str(environ, "STAFETT_KEK_BACKEND", "file"),
        # Only the variable itself: STAFETT_KEK_FILE is the file backend's path, not a _FILE form.
        "kek": Secret(environ["STAFETT_KEK"]) if environ.get("STAFETT_KEK") else None,
        "vault_addr": env_optional(environ, "STAFETT_VAULT_ADDR"),
        "vault_token": env_secret(environ, "STAFETT_VAULT_TOKEN"),
        "vault_transit_mount": env_str(environ, "STAFETT_VAULT_TRANSIT_MOUNT", "transit"),
        "vault_transit_key": env_str(environ, "STAFETT_VAULT_TRANSIT_KEY", "stafett-kek"),
    }


_VAULT_PATH_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_VAULT_MOUNT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,127}")


def _check_kek(settings: Settings) -> None:
    if settings.kek_backend not in {"file", "env", "vault"}:
        raise SettingsError("STAFETT_KEK_BACKEND must be file, env or vault")
    if settings.kek_backend == "env":
        if settings.kek is None:
            raise SettingsError("STAFETT_KEK must be set for STAFETT_KEK_BACKEND=env")
        try:
            kek = base64.urlsafe_b64decode(settings.kek.reveal().strip())
        except (ValueError, binascii.Error) as error:
            raise SettingsError("STAFETT_KEK must be base64url") from error
        if len(kek) != 32:
            raise SettingsError("STAFETT_KEK must hold exactly 32 bytes (base64url)")
    if settings.kek_backend != "vault":
        return
    if settings.vault_addr is None:
        raise SettingsError("STAFETT_VAULT_ADDR must be set for STAFETT_KEK_BACKEND=vault")
    parts = urlsplit(settings.vault_addr)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise SettingsError("STAFETT_VAULT_ADDR must be an absolute http(s) URL")
    if settings.mode is Mode.PRODUCTION and parts.scheme != "https":
        raise SettingsError("STAFETT_VAULT_ADDR must use https in production mode")
    if settings.vault_token is None or not settings.vault_token.reveal().strip():
        raise SettingsError(
            "STAFETT_VAULT_TOKEN (or _FILE) must be set for STAFETT_KEK_BACKEND=vault"
        )
    if not _VAULT_MOUNT.fullmatch(settings.vault_transit_mount) or ".." in (
        settings.vault_transit_mount
    ):
        raise SettingsError("STAFETT_VAULT_TRANSIT_MOUNT must be a Vault mount path")
    if not _VAULT_PATH_SEGMENT.fullmatch(settings.vault_transit_key):
        raise SettingsError("STAFETT_VAULT_TRANSIT_KEY must be a transit key name")


def _check_hardening(settings: Settings) -> None:
    for name in ("session_redis_url", "rate_limit_redis_url"):
        url = getattr(settings, name)
        if url is not None and urlsplit(url).scheme not in {"redis", "rediss", "unix"}:
            raise SettingsError(f"STAFETT_{name.upper()} must be a redis:// or rediss:// URL")
    for name in (
        "rate_limit_login_per_minute",
        "rate_limit_login_per_account_per_minute",
        "rate_limit_token_per_minute",
        "rate_limit_token_per_account_per_minute",
    ):
        if getattr(settings, name) <= 0:
            raise SettingsError(f"STAFETT_{name.upper()} must be a positive whole number")
    for proxy in settings.trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError as error:
            raise SettingsError(
                "STAFETT_TRUSTED_PROXIES must list IP addresses or networks (CIDR)"
            ) from error
    for origin in settings.frame_ancestors_logout:
        parts = urlsplit(origin)
        if parts.scheme not in {"http", "https"} or not parts.hostname or parts.path:
            raise SettingsError("STAFETT_FRAME_ANCESTORS_LOGOUT must list origins (https://host)")
        if settings.mode is Mode.PRODUCTION and parts.scheme != "https":
            raise SettingsError("STAFETT_FRAME_ANCESTORS_LOGOUT must use https in production mode")
