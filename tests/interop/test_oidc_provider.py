"""Proof against an independent OpenID Provider: panva's oidc-provider (an OpenID-certified
implementation, from npm) plays ID-porten with PAR and PKCE S256 required and `private_key_jwt`
client authentication; auth's real relying party logs a guardian in through it end to end.

Needs Node.js and npm (the fixture runs `npm ci` once if node_modules is missing). Without them
the test is skipped, unless STAFETT_REQUIRE_INTEROP=1 (CI), where it fails instead.
"""

from __future__ import annotations

import os
import re
import selectors
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from services.auth.app import create_app
from services.auth.database import migrate
from services.auth.jwk_files import load_or_create_rsa_jwk
from services.auth.settings import Settings
from shared.keyfiles import load_or_create_signing_jwk, public_path_for
from shared.settings import Mode
from tests.auth.helpers import portal_form
from tests.conftest import DatabaseFactory

pytestmark = pytest.mark.integration

PROVIDER_DIR = Path(__file__).parent / "oidc-provider"
AUTH_URL = "http://127.0.0.1:8001"
PORTAL_URL = "http://127.0.0.1:8000"
CLIENT_ID = "stafettlogg-interop"
KARI = "12838510068"
_NPM_TIMEOUT = 300
_START_TIMEOUT = 90.0  # a loaded CI machine (browser tests on the other core) starts Node slowly


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("STAFETT_REQUIRE_INTEROP") == "1":
        pytest.fail(f"STAFETT_REQUIRE_INTEROP=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def node() -> str:
    """The node binary, with oidc-provider installed from the lock file (once)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable("Node.js and npm are needed to run the oidc-provider interop test")
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        try:
            subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=PROVIDER_DIR,
                check=True,
                capture_output=True,
                timeout=_NPM_TIMEOUT,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            _unavailable(f"`npm ci` for oidc-provider failed: {error}")
    return node


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class InteropProvider:
    issuer: str


@pytest.fixture
def auth_environ(tmp_path: Path, database_url: DatabaseFactory) -> dict[str, str]:
    keys = tmp_path / "keys"
    load_or_create_rsa_jwk(keys / "auth-client.json", mode=Mode.LOCAL)
    load_or_create_signing_jwk(keys / "portal-client.json", mode=Mode.LOCAL)
    url = database_url("auth")
    migrate(url)
    return {
        "STAFETT_DATA_DIR": str(tmp_path),
        "STAFETT_AUTH_URL": AUTH_URL,
        "STAFETT_PORTAL_URL": PORTAL_URL,
        "STAFETT_AUTH_DATABASE_URL": url,
        "STAFETT_IDPORTEN_CLIENT_ID": CLIENT_ID,
        "STAFETT_IDPORTEN_CLIENT_AUTH": "private_key_jwt",
        "STAFETT_GUARDIAN_ACR": "idporten-loa-high",
    }


@pytest.fixture
def provider(node: str, auth_environ: dict[str, str]) -> Iterator[InteropProvider]:
    """oidc-provider on a free loopback port, with auth's public client key registered."""
    port = _free_port()
    client_jwks = public_path_for(Path(auth_environ["STAFETT_DATA_DIR"]) / "keys/auth-client.json")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "NODE_ENV": "test",
        "INTEROP_PORT": str(port),
        "INTEROP_CLIENT_ID": CLIENT_ID,
        "INTEROP_CLIENT_JWKS_FILE": str(client_jwks),
        "INTEROP_REDIRECT_URI": f"{AUTH_URL}/callback",
        "INTEROP_POST_LOGOUT_URI": f"{AUTH_URL}/logout/done",
    }
    process = subprocess.Popen(
        [node, "server.mjs"],
        cwd=PROVIDER_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        issuer = _wait_until_ready(process)
        yield InteropProvider(issuer)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _wait_until_ready(process: subprocess.Popen[str]) -> str:
    """The issuer from Node's "ready <issuer>" line. Reads the pipe's bytes itself: a buffered
    readline after select() would leave a second line (often "ready") in Python's buffer, where
    select() never sees it, and wait out the timeout."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    deadline = time.monotonic() + _START_TIMEOUT
    received = b""
    while time.monotonic() < deadline:
        if not selector.select(timeout=0.5):
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        received += chunk
        for line in received.decode(errors="replace").splitlines():
            if line.startswith("ready "):
                return line.split(" ", 1)[1].strip()
    output = received.decode(errors="replace").splitlines()[-20:]
    pytest.fail("oidc-provider did not start:\n" + "\n".join(output))


@pytest.fixture
def auth(provider: InteropProvider, auth_environ: dict[str, str]) -> Iterator[TestClient[Litestar]]:
    """auth in-process, its relying party talking to oidc-provider over real loopback HTTP."""
    settings = Settings.from_env(auth_environ | {"STAFETT_IDPORTEN_ISSUER": provider.issuer})
    with TestClient(create_app(settings), base_url=AUTH_URL) as client:
        client.follow_redirects = False
        yield client


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def _browse_to_callback(browser: httpx.Client, url: str) -> str:
    """Follow the provider's redirects and fill its login form, until it sends the browser
    back to auth's callback; returns that URL."""
    for _ in range(12):
        if url.startswith(f"{AUTH_URL}/callback"):
            return url
        response = browser.get(url)
        if response.status_code in (302, 303):
            url = urljoin(url, response.headers["location"])
            continue
        assert response.status_code == 200, response.text
        action = re.search(r'<form method="post" action="([^"]+)"', response.text)
        assert action is not None, response.text
        posted = browser.post(urljoin(url, action.group(1)), data={"pid": KARI})
        assert posted.status_code in (302, 303), posted.text
        url = urljoin(url, posted.headers["location"])
    pytest.fail("the provider never sent the browser back to the callback")


def test_guardian_logs_in_through_oidc_provider_with_par_pkce_and_private_key_jwt(
    auth: TestClient[Litestar], provider: InteropProvider, auth_environ: dict[str, str]
) -> None:
    start = auth.get("/login", params={"kind": "guardian", "next": "/stafettlogger"})
    assert start.status_code == 303, start.text
    authorize = start.headers["location"]
    assert authorize.startswith(f"{provider.issuer}/")
    assert set(parse_qs(urlsplit(authorize).query)) == {"client_id", "request_uri"}  # PAR

    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        callback = _browse_to_callback(browser, authorize)
    answer = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    assert answer["iss"] == provider.issuer  # RFC 9207, checked by auth too
    assert "code" in answer

    done = auth.get(_path(callback))
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"{PORTAL_URL}/stafettlogger"
    cookie = auth.cookies["stafett_session"]

    portal_key = load_or_create_signing_jwk(
        Path(auth_environ["STAFETT_DATA_DIR"]) / "keys/portal-client.json", mode=Mode.LOCAL
    )
    context = auth.post("/session", data=portal_form(portal_key, cookie))
    assert context.status_code == 200, context.text
    assert context.json()["role"] == "guardian"
    assert context.json()["acr"] == "idporten-loa-high"
    assert context.json()["name"] == "Kari Nordmann"


def test_wrong_iss_in_the_response_is_refused_before_the_code_is_redeemed(
    auth: TestClient[Litestar], provider: InteropProvider
) -> None:
    start = auth.get("/login", params={"kind": "guardian"})
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        callback = _browse_to_callback(browser, start.headers["location"])
    forged = callback.replace(
        f"iss={provider.issuer.replace(':', '%3A').replace('/', '%2F')}",
        "iss=https%3A%2F%2Fidporten.evil.example",
    )
    assert forged != callback
    response = auth.get(_path(forged))
    assert response.status_code == 400
    assert "stafett_session" not in auth.cookies
