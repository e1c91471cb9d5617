"""auth's settings, read once from the environment (or any mapping) and validated at start."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from shared.keyfiles import public_path_for
from shared.settings import Mode, SettingsError, env_bool, env_int, env_str

__all__ = ["AUTH_AUDIENCE", "LOGG_AUDIENCE", "PORTAL_CLIENT_ID", "Settings"]

LOGG_AUDIENCE = "stafett-logg"
AUTH_AUDIENCE = "stafett-auth"
PORTAL_CLIENT_ID = "stafett-portal"
_LOCAL_IDPORTEN_CLIENT_ID = "stafettlogg-idporten"
_LOCAL_ANSATTPORTEN_CLIENT_ID = "stafettlogg-ansattporten"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything auth needs to start. Secrets are not here: only the paths to them."""

    mode: Mode = Mode.LOCAL
    data_dir: Path = Path("var")
    portal_url: str = "http://127.0.0.1:8000"
    auth_url: str = "http://127.0.0.1:8001"
    logg_url: str = "http://127.0.0.1:8002"
    database_url: str
    kek_file: Path
    pid_hmac_key_file: Path
    portal_client_jwks_file: Path
    client_key_file: Path  # auth's own RSA key for private_key_jwt at ID-porten/Ansattporten
    guardian_acr: str = "idporten-loa-high"
    staff_acr: str = "idporten-loa-substantial"
    idporten_issuer: str
    idporten_client_id: str
    ansattporten_issuer: str
    ansattporten_client_id: str
    test_idp: bool = True
    session_idle_seconds: int = 30 * 60
    session_absolute_seconds: int = 12 * 60 * 60

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
        if self.session_idle_seconds <= 0 or self.session_absolute_seconds <= 0:
            raise SettingsError("session lifetimes must be positive")

    @property
    def test_idp_issuer(self) -> str:
        return f"{self.auth_url}/test-idp"

    @property
    def callback_url(self) -> str:
        return f"{self.auth_url}/callback"

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
            test_idp=test_idp,
            session_idle_seconds=env_int(environ, "STAFETT_SESSION_IDLE_SECONDS", 30 * 60),
            session_absolute_seconds=env_int(
                environ, "STAFETT_SESSION_ABSOLUTE_SECONDS", 12 * 60 * 60
            ),
        )
