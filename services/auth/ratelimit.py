"""Rate limits on auth's login and token endpoints, shared by every auth instance.

Fixed one-minute windows: each (rule, key, window) is one counter, in Redis
(STAFETT_RATE_LIMIT_REDIS_URL, else STAFETT_SESSION_REDIS_URL) or else in auth's database
(`rate_limit_counters`), so that several instances behind a load balancer count together. A
fixed window lets a client spend up to twice its limit across a window boundary; that is
accepted for limits meant to stop guessing and floods, not to meter use.

Counted per client address (the socket peer; X-Forwarded-For only from STAFETT_TRUSTED_PROXIES;
IPv6 by /64, which one subscriber usually holds) and, where the request names an account, per
account as well: the browser session behind /token and /session, the service token's subject
behind /directory/persons/lookup. Login routes are counted per address only: who logs in is
not known until the identity provider has answered.

Over the limit: 429 with Retry-After, as RFC 6749-style JSON on /token and /session,
problem+json on the directory and a Norwegian page on browser routes. When the counter store
cannot be reached the request is refused with 503 (fail closed).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import msgspec
from litestar import Request, Response
from litestar.response import Template
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import BigInteger, Integer, String, delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from services.auth.error_texts import error_text, home_link, language_of
from services.auth.models import Base
from services.auth.sessions import session_id_hash
from services.auth.settings import Settings
from shared.problems import Problem, problem_type

__all__ = [
    "RateLimitCounter",
    "RateLimitCounterRow",
    "RateLimitRule",
    "RateLimitUnavailableError",
    "RateLimiter",
    "RedisRateLimitCounter",
    "SqlRateLimitCounter",
    "build_rate_limiter",
    "client_address",
    "rate_limit_hook",
]

_log = logging.getLogger("stafett.auth.ratelimit")
_WINDOW = 60
_PURGE_INTERVAL = 60
_UNAVAILABLE_RETRY = 5


class RateLimitCounterRow(Base):
    """One counter: hits of one key in one window. The bucket is a hash; no address is stored."""

    __tablename__ = "rate_limit_counters"

    bucket: Mapped[str] = mapped_column(String(64), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class RateLimitUnavailableError(Exception):
    """The counter store could not be reached; the request must be refused."""


class RateLimitCounter(Protocol):
    """Counts hits per bucket and window, atomically across processes."""

    async def hit(self, bucket: str, expires_at: int) -> int:
        """Add one hit to `bucket` (which names its window) and return the hits so far."""

    async def close(self) -> None:
        """Release connections."""


class SqlRateLimitCounter:
    """Counters in auth's database: one upsert (`INSERT … ON CONFLICT DO UPDATE … RETURNING`,
    SQLite ≥ 3.35 and PostgreSQL), so concurrent instances never lose a hit."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, clock: Callable[[], float]
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._next_purge = 0.0

    async def hit(self, bucket: str, expires_at: int) -> int:
        row = RateLimitCounterRow
        async with self._sessionmaker() as db:
            dialect = db.get_bind().dialect.name
            insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
            statement = (
                insert(row)
                .values(bucket=bucket, hits=1, expires_at=expires_at)
                .on_conflict_do_update(index_elements=[row.bucket], set_={"hits": row.hits + 1})
                .returning(row.hits)
            )
            hits = int((await db.execute(statement)).scalar_one())
            now = self._clock()
            if now >= self._next_purge:
                self._next_purge = now + _PURGE_INTERVAL
                await db.execute(delete(row).where(row.expires_at < int(now)))
            await db.commit()
        return hits

    async def close(self) -> None:
        """The engine belongs to the app, which disposes it."""


class RedisRateLimitCounter:
    """Counters in Redis: INCR and EXPIRE in one transaction; keys vanish after their window."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str,
        owns_client: bool,
        clock: Callable[[], float],
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._owns_client = owns_client
        self._clock = clock

    @classmethod
    def from_url(
        cls, url: str, *, prefix: str, clock: Callable[[], float]
    ) -> RedisRateLimitCounter:
        return cls(Redis.from_url(url), prefix=prefix, owns_client=True, clock=clock)

    async def hit(self, bucket: str, expires_at: int) -> int:
        key = f"{self._prefix}ratelimit:{bucket}"
        ttl = max(1, expires_at - int(self._clock()))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, ttl)
            hits, _ = await pipe.execute()
        return int(hits)

    async def close(self) -> None:
        if self._owns_client:
            await self._redis.aclose()


@dataclass(frozen=True, slots=True)
class RateLimitRule:
    """At most `limit` requests per `window_seconds` for each key under this rule's name."""

    name: str
    limit: int
    window_seconds: int = _WINDOW


class RateLimiter:
    """Counts requests against rules and says how long to wait when one is exceeded."""

    def __init__(self, counter: RateLimitCounter, *, clock: Callable[[], float] = time.time):
        self._counter = counter
        self._clock = clock

    async def check(self, hits: Iterable[tuple[RateLimitRule, str]]) -> int | None:
        """Count one request against every (rule, key); None when all are within their limit,
        else the seconds until the exceeded window ends (for Retry-After).

        Guarantees: every pair is counted (a refused request counts too), in a store shared by
        all instances. Raises RateLimitUnavailableError when that store cannot be reached: the
        caller must then refuse the request. Keys are stored only hashed."""
        now = int(self._clock())
        wait: int | None = None
        try:
            for rule, key in hits:
                window_start = now - now % rule.window_seconds
                window_end = window_start + rule.window_seconds
                bucket = hashlib.sha256(
                    f"{rule.name}\x00{key}\x00{window_start}".encode()
                ).hexdigest()
                count = await self._counter.hit(bucket, window_end + 1)
                if count > rule.limit:
                    wait = max(wait or 0, max(1, window_end - now))
        except (RedisError, SQLAlchemyError, OSError) as error:
            raise RateLimitUnavailableError(type(error).__name__) from error
        return wait

    async def close(self) -> None:
        await self._counter.close()


def client_address(
    peer: str | None,
    forwarded_for: Sequence[str],
    trusted_proxies: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> str:
    """The address a request is counted under.

    The socket peer, unless the peer is a trusted proxy: then the right-most X-Forwarded-For
    address that is not itself a trusted proxy (addresses to its left could be written by the
    client). IPv6 addresses count by their /64 network. Guarantees: a client that does not go
    through a trusted proxy cannot choose its address by sending X-Forwarded-For."""

    def parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        try:
            address = ipaddress.ip_address(text.strip().strip("[]"))
        except ValueError:
            return None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            return address.ipv4_mapped
        return address

    def trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address in network for network in trusted_proxies)

    def key(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
        if isinstance(address, ipaddress.IPv6Address):
            return str(ipaddress.IPv6Network((address, 64), strict=False))
        return str(address)

    chosen = parse(peer or "")
    if chosen is None:
        return peer or "unknown"
    if not trusted(chosen):
        return key(chosen)
    hops = [hop for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = parse(hop)
        if address is None:  # a hop we cannot read: stop at the last one we could
            break
        chosen = address
        if not trusted(address):
            break
    return key(chosen)


# --- the routes that are limited, and how they answer -------------------------------------------

_Style = Literal["browser", "oauth", "problem"]
_Account = Callable[[Request[Any, Any, Any]], Awaitable[str | None]]


async def _no_account(_request: Request[Any, Any, Any]) -> str | None:
    return None


async def _session_account(request: Request[Any, Any, Any]) -> str | None:
    """The browser session a /token or /session(/service) call acts for (hash of its id)."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return None
    try:
        form = await request.form()
    except Exception:  # a body the handler will refuse with its own error
        return None
    token = form.get("subject_token")
    return session_id_hash(token) if isinstance(token, str) else None


async def _bearer_subject(request: Request[Any, Any, Any]) -> str | None:
    """The `sub` a bearer token claims, read without verification: the route verifies the
    token. A forged token can spend a subject's budget only from an address within its own."""
    scheme, _, unverified_token = request.headers.get("authorization", "").partition(" ")
    parts = unverified_token.strip().split(".")
    if scheme.lower() != "bearer" or len(parts) != 3 or len(parts[1]) > 4096:
        return None
    try:
        unverified_claims = json.loads(
            base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        )
    except ValueError:
        return None
    subject = unverified_claims.get("sub") if isinstance(unverified_claims, dict) else None
    return subject if isinstance(subject, str) and len(subject) <= 64 else None


@dataclass(frozen=True, slots=True)
class _Limited:
    style: _Style
    address_rule: RateLimitRule
    account_rule: RateLimitRule | None
    account: _Account


def _limited_routes(settings: Settings) -> dict[tuple[str, str], _Limited]:
    login = RateLimitRule("login-address", settings.rate_limit_login_per_minute)
    token = RateLimitRule("token-address", settings.rate_limit_token_per_minute)
    token_account = RateLimitRule("token-account", settings.rate_limit_token_per_account_per_minute)
    lookup_account = RateLimitRule(
        "lookup-account", settings.rate_limit_token_per_account_per_minute
    )
    browser = _Limited("browser", login, None, _no_account)
    return {
        ("GET", "/login"): browser,
        ("GET", "/callback"): browser,
        ("POST", "/test-idp/login"): browser,
        ("POST", "/token"): _Limited("oauth", token, token_account, _session_account),
        ("POST", "/session"): _Limited("oauth", token, token_account, _session_account),
        ("POST", "/session/service"): _Limited("oauth", token, token_account, _session_account),
        ("POST", "/directory/persons/lookup"): _Limited(
            "problem", token, lookup_account, _bearer_subject
        ),
    }


def _refusal(
    style: _Style,
    status: int,
    retry_after: int,
    settings: Settings,
    request: Request[Any, Any, Any],
) -> Response[Any]:
    headers = {"Retry-After": str(retry_after), "Cache-Control": "no-store"}
    if style == "browser":
        language = language_of(request, settings)
        title, message = error_text("too_many" if status == 429 else "unavailable", language)
        return Template(
            template_name="error.html",
            context={
                "title": title,
                "message": message,
                "home_url": f"{settings.portal_url}/",
                "home_text": home_link(language),
                "lang": language,
            },
            status_code=status,
            headers=headers,
        )
    if style == "oauth":
        # RFC 6749 has no code for "slow down" at the token endpoint; temporarily_unavailable
        # (§4.1.2.1) is the registered code closest in meaning, and the status says 429/503.
        description = (
            "too many requests; retry after the Retry-After seconds"
            if status == 429
            else "the rate limit store is unavailable; retry later"
        )
        return Response(
            {"error": "temporarily_unavailable", "error_description": description},
            status_code=status,
            headers={**headers, "Pragma": "no-cache"},
        )
    problem = (
        Problem(problem_type("rate-limited"), "Too many requests; wait and try again", 429)
        if status == 429
        else Problem(problem_type("unavailable"), "Rate limiting is unavailable", 503)
    )
    return Response(
        msgspec.json.encode(problem),
        status_code=status,
        media_type="application/problem+json",
        headers=headers,
    )


def rate_limit_hook(
    limiter: RateLimiter, settings: Settings
) -> Callable[[Request[Any, Any, Any]], Awaitable[Response[Any] | None]]:
    """An app-level `before_request` handler that counts the limited routes' requests and
    answers 429 (over the limit) or 503 (counter store unreachable) before the handler runs."""
    routes = _limited_routes(settings)
    proxies = [ipaddress.ip_network(proxy, strict=False) for proxy in settings.trusted_proxies]

    async def limit(request: Request[Any, Any, Any]) -> Response[Any] | None:
        limited = routes.get((request.method, request.scope["path"]))
        if limited is None:
            return None
        peer = request.client.host if request.client is not None else None
        address = client_address(peer, request.headers.getall("x-forwarded-for", []), proxies)
        hits = [(limited.address_rule, address)]
        account = await limited.account(request)
        if account is not None and limited.account_rule is not None:
            hits.append((limited.account_rule, account))
        try:
            wait = await limiter.check(hits)
        except RateLimitUnavailableError as error:
            _log.error("rate limit store unavailable (%s): refusing %s", error, request.url.path)
            return _refusal(limited.style, 503, _UNAVAILABLE_RETRY, settings, request)
        if wait is None:
            return None
        _log.warning("rate limit exceeded on %s %s", request.method, request.url.path)
        return _refusal(limited.style, 429, wait, settings, request)

    return limit


def build_rate_limiter(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    clock: Callable[[], float] = time.time,
) -> RateLimiter:
    """Counters in Redis when STAFETT_RATE_LIMIT_REDIS_URL (or the session Redis URL) is set,
    else in auth's database."""
    counter: RateLimitCounter
    if settings.rate_limit_redis_url is not None:
        counter = RedisRateLimitCounter.from_url(
            settings.rate_limit_redis_url, prefix=settings.redis_key_prefix, clock=clock
        )
    else:
        counter = SqlRateLimitCounter(sessionmaker, clock=clock)
    return RateLimiter(counter, clock=clock)
