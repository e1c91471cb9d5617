"""Settings of the logg service, read once from the environment at start."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import msgspec

from shared.settings import Mode, SettingsError, env_bool, env_int, env_str

__all__ = ["LOGG_AUDIENCE", "Settings"]

LOGG_AUDIENCE = "stafett-logg"
_DEFAULT_MAX_BODY = 256 * 1024
_MIN_MAX_BODY = 4 * 1024
_DEFAULT_HEAD_INTERVAL = 300  # seconds between publications of signed access-log heads
_MAX_HEAD_INTERVAL = 24 * 3600


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything logg needs to run. No secret: logg checks tokens with auth's public keys."""

    mode: Mode = Mode.LOCAL
    data_dir: Path = Path("var")
    database_url: str
    auth_url: str  # the issuer of the service tokens logg accepts
    auth_jwks_url: str
    logg_url: str = "http://127.0.0.1:8002"
    audience: str = LOGG_AUDIENCE
    max_body: int = _DEFAULT_MAX_BODY
    # logg's own Ed25519 key that signs the heads of the access log (innsynslogg)
    audit_key_file: Path = Path("var/keys/logg-audit.json")
    # A service unit takes part only while it holds valid consent. Off only for a local
    # installation whose portal cannot record consent yet; production refuses to turn it off.
    require_consent: bool = True
    # One-shot tokens across instances (shared.replay); unset: the database or, on SQLite, memory.
    replay_redis_url: str | None = None
    # How often (seconds) logg signs and stores the head of every access-log chain that grew.
    head_interval: int = _DEFAULT_HEAD_INTERVAL

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build and validate the settings from `environ` (normally `os.environ`)."""
        raw_mode = env_str(environ, "STAFETT_MODE", Mode.LOCAL.value)
        try:
            mode = Mode(raw_mode)
        except ValueError as error:
            raise SettingsError("STAFETT_MODE must be local or production") from error
        data_dir = Path(env_str(environ, "STAFETT_DATA_DIR", "./var"))
        auth_url = env_str(environ, "STAFETT_AUTH_URL", "http://127.0.0.1:8001").rstrip("/")
        database_url = env_str(
            environ, "STAFETT_LOGG_DATABASE_URL", f"sqlite+aiosqlite:///{data_dir / 'logg.db'}"
        )
        jwks_url = env_str(environ, "STAFETT_AUTH_JWKS_URL", f"{auth_url}/.well-known/jwks.json")
        max_body = env_int(environ, "STAFETT_LOGG_MAX_BODY", _DEFAULT_MAX_BODY)
        if max_body < _MIN_MAX_BODY:
            raise SettingsError(f"STAFETT_LOGG_MAX_BODY must be at least {_MIN_MAX_BODY}")
        if not database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise SettingsError(
                "STAFETT_LOGG_DATABASE_URL must use sqlite+aiosqlite or postgresql+asyncpg"
            )
        replay_redis_url = environ.get("STAFETT_LOGG_REPLAY_REDIS_URL") or None
        if replay_redis_url is not None and not replay_redis_url.startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise SettingsError("STAFETT_LOGG_REPLAY_REDIS_URL must be a redis:// or rediss:// URL")
        audit_key_file = Path(
            env_str(
                environ, "STAFETT_LOGG_AUDIT_KEY_FILE", str(data_dir / "keys" / "logg-audit.json")
            )
        )
        require_consent = env_bool(environ, "STAFETT_LOGG_REQUIRE_CONSENT", True)
        head_interval = env_int(environ, "STAFETT_LOGG_HEAD_INTERVAL", _DEFAULT_HEAD_INTERVAL)
        if not 1 <= head_interval <= _MAX_HEAD_INTERVAL:
            raise SettingsError(
                f"STAFETT_LOGG_HEAD_INTERVAL must be 1 to {_MAX_HEAD_INTERVAL} seconds"
            )
        if mode is Mode.PRODUCTION and not require_consent:
            raise SettingsError("STAFETT_LOGG_REQUIRE_CONSENT cannot be turned off in production")
        if mode is Mode.PRODUCTION:
            for name, url in (
                ("STAFETT_AUTH_URL", auth_url),
                ("STAFETT_AUTH_JWKS_URL", jwks_url),
            ):
                if not url.startswith("https://"):
                    raise SettingsError(f"{name} must be an https URL in production")
        elif not auth_url.startswith(("http://", "https://")) or not jwks_url.startswith(
            ("http://", "https://")
        ):
            raise SettingsError("STAFETT_AUTH_URL and STAFETT_AUTH_JWKS_URL must be http(s) URLs")
        return cls(
            mode=mode,
            data_dir=data_dir,
            database_url=database_url,
            auth_url=auth_url,
            auth_jwks_url=jwks_url,
            audit_key_file=audit_key_file,
            require_consent=require_consent,
            logg_url=env_str(environ, "STAFETT_LOGG_URL", "http://127.0.0.1:8002").rstrip("/"),
            max_body=max_body,
            replay_redis_url=replay_redis_url,
            head_interval=head_interval,
        )
