"""Custody under Vault/OpenBao transit, through hvac, against a local stand-in of the transit API.

No Vault server runs here: `_TransitStandIn` serves POST /v1/{mount}/encrypt/{key} and
/decrypt/{key} on 127.0.0.1 with real AES-256-GCM inside, checks X-Vault-Token and answers with
Vault's status codes and `vault:v1:` ciphertexts, which is all auth relies on.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from litestar.testing import TestClient
from sqlalchemy import create_engine, select

from services.auth.app import create_app
from services.auth.custody import CustodyError, KekUnavailableError, VaultTransitKek, owner_aad
from services.auth.models import SigningKeyRow
from services.auth.settings import Settings
from shared.settings import SettingsError
from tests.auth.helpers import AUTH_URL, RewritingTransport

TOKEN = "s.stafett-test-token"


class _TransitStandIn(ThreadingHTTPServer):
    def __init__(self, mount: str = "transit") -> None:
        super().__init__(("127.0.0.1", 0), _TransitHandler)
        self.mount = mount
        self.keys: dict[str, AESGCM] = {}
        self.ignore_associated_data = False  # play a server older than Vault 1.14
        self.requests: list[tuple[str, dict[str, Any]]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def rotate_out_all_keys(self) -> None:
        """Lose every key: what auth sees if pointed at another Vault or a recreated key."""
        self.keys.clear()


class _TransitHandler(BaseHTTPRequestHandler):
    server: _TransitStandIn

    def log_message(self, format: str, *args: Any) -> None:  # stdlib's name
        pass

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body: dict[str, Any] = json.loads(self.rfile.read(length) or b"{}")
        self.server.requests.append((self.path, body))
        if self.headers.get("X-Vault-Token") != TOKEN:
            return self._answer(403, {"errors": ["permission denied"]})
        parts = self.path.split("/")
        if len(parts) != 5 or parts[:2] != ["", "v1"] or parts[2] != self.server.mount:
            return self._answer(404, {"errors": [f"no handler for route {self.path!r}"]})
        operation, name = parts[3], parts[4]
        aad = base64.b64decode(body.get("associated_data") or "")
        if self.server.ignore_associated_data:
            aad = b""
        if operation == "encrypt":
            aead = self.server.keys.setdefault(name, AESGCM(AESGCM.generate_key(256)))
            nonce = os.urandom(12)
            sealed = nonce + aead.encrypt(nonce, base64.b64decode(body["plaintext"]), aad)
            ciphertext = "vault:v1:" + base64.b64encode(sealed).decode()
            return self._answer(200, {"data": {"ciphertext": ciphertext, "key_version": 1}})
        if operation == "decrypt":
            if name not in self.server.keys:
                return self._answer(400, {"errors": ["encryption key not found"]})
            raw = base64.b64decode(str(body["ciphertext"]).removeprefix("vault:v1:"))
            try:
                plaintext = self.server.keys[name].decrypt(raw[:12], raw[12:], aad)
            except InvalidTag:
                return self._answer(400, {"errors": ["cipher: message authentication failed"]})
            return self._answer(200, {"data": {"plaintext": base64.b64encode(plaintext).decode()}})
        return self._answer(404, {"errors": ["unsupported path"]})


@pytest.fixture
def vault() -> Iterator[_TransitStandIn]:
    server = _TransitStandIn()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _kek(vault: _TransitStandIn, token: str = TOKEN) -> VaultTransitKek:
    return VaultTransitKek(vault.url, token, mount="transit", key_name="stafett-kek")


def test_sealed_key_round_trips_through_vault_transit_with_owner_as_associated_data(
    vault: _TransitStandIn,
) -> None:
    kek = _kek(vault)
    sealed = kek.seal(b"private key bytes", owner_aad("person", "p_a"))
    assert sealed.startswith(b"vault:v1:")
    assert b"private key bytes" not in base64.b64decode(sealed.removeprefix(b"vault:v1:"))
    assert kek.unseal(sealed, owner_aad("person", "p_a")) == b"private key bytes"
    path, body = vault.requests[0]
    assert path == "/v1/transit/encrypt/stafett-kek"
    assert base64.b64decode(body["associated_data"]) == owner_aad("person", "p_a")


def test_vault_sealed_key_does_not_open_for_another_owner(vault: _TransitStandIn) -> None:
    kek = _kek(vault)
    sealed = kek.seal(b"secret", owner_aad("person", "p_a"))
    with pytest.raises(CustodyError, match="did not open"):
        kek.unseal(sealed, owner_aad("person", "p_b"))


def test_owner_binding_holds_on_a_vault_that_ignores_associated_data(
    vault: _TransitStandIn,
) -> None:
    vault.ignore_associated_data = True
    kek = _kek(vault)
    sealed = kek.seal(b"secret", owner_aad("person", "p_a"))
    assert kek.unseal(sealed, owner_aad("person", "p_a")) == b"secret"
    with pytest.raises(CustodyError, match="another owner"):
        kek.unseal(sealed, owner_aad("service", "p_a"))


def test_altered_or_foreign_vault_ciphertext_is_refused(vault: _TransitStandIn) -> None:
    kek = _kek(vault)
    sealed = bytearray(kek.seal(b"secret", owner_aad("person", "p_a")))
    sealed[-2] = ord("A") if sealed[-2] != ord("A") else ord("B")
    with pytest.raises(CustodyError):
        kek.unseal(bytes(sealed), owner_aad("person", "p_a"))
    with pytest.raises(CustodyError, match="not a Vault transit ciphertext"):
        kek.unseal(b"\x01" + b"\x00" * 40, owner_aad("person", "p_a"))


def test_refused_token_is_reported_as_unavailable_kek_naming_the_setting(
    vault: _TransitStandIn,
) -> None:
    sealed = _kek(vault).seal(b"secret", owner_aad("person", "p_a"))
    with pytest.raises(KekUnavailableError, match="STAFETT_VAULT_TOKEN"):
        _kek(vault, token="s.wrong").seal(b"secret", owner_aad("person", "p_a"))
    with pytest.raises(KekUnavailableError, match="STAFETT_VAULT_TOKEN"):
        _kek(vault, token="s.wrong").unseal(sealed, owner_aad("person", "p_a"))


def test_token_is_not_in_the_repr(vault: _TransitStandIn) -> None:
    assert TOKEN not in repr(_kek(vault))


# --- at start: auth with STAFETT_KEK_BACKEND=vault ---


def _vault_settings(environ: dict[str, str], addr: str, token: str = TOKEN) -> Settings:
    return Settings.from_env(
        environ
        | {
            "STAFETT_KEK_BACKEND": "vault",
            "STAFETT_VAULT_ADDR": addr,
            "STAFETT_VAULT_TOKEN": token,
        }
    )


def start_auth(settings: Settings) -> int:
    transport = RewritingTransport()
    app = create_app(settings, http_transport=transport)
    transport.attach(app)
    with TestClient(app, base_url=AUTH_URL) as client:
        return client.get("/healthz").status_code


def refusal_at_start(settings: Settings) -> SettingsError:
    """The SettingsError that stopped auth at start (Litestar's lifespan wraps it in a group)."""
    try:
        start_auth(settings)
    except BaseException as error:  # unwrapped and re-raised below
        pending: list[BaseException] = [error]
        while pending:
            current = pending.pop()
            if isinstance(current, SettingsError):
                return current
            if isinstance(current, BaseExceptionGroup):
                pending.extend(current.exceptions)
        raise
    pytest.fail("auth started")


def _sync_url(url: str) -> str:
    return url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg")


def test_auth_starts_with_vault_and_seals_its_signing_key_there(
    vault: _TransitStandIn, environ: dict[str, str]
) -> None:
    settings = _vault_settings(environ, vault.url)
    assert start_auth(settings) == 200
    assert start_auth(settings) == 200  # the second start opens what the first one sealed
    if not settings.database_url.startswith("sqlite"):
        return
    engine = create_engine(_sync_url(settings.database_url))
    try:
        with engine.connect() as connection:
            sealed = connection.execute(select(SigningKeyRow.sealed_private_key)).scalars().all()
    finally:
        engine.dispose()
    assert sealed
    assert all(value.startswith(b"vault:v1:") for value in sealed)


def test_auth_refuses_to_start_when_vault_refuses_its_token(
    vault: _TransitStandIn, environ: dict[str, str]
) -> None:
    assert "STAFETT_VAULT_TOKEN" in str(
        refusal_at_start(_vault_settings(environ, vault.url, token="s.wrong"))
    )


def test_auth_refuses_to_start_when_vault_is_unreachable(environ: dict[str, str]) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    assert "unreachable at STAFETT_VAULT_ADDR" in str(
        refusal_at_start(_vault_settings(environ, f"http://127.0.0.1:{port}"))
    )


def test_auth_refuses_to_start_when_the_transit_key_no_longer_opens_its_keys(
    vault: _TransitStandIn, environ: dict[str, str]
) -> None:
    settings = _vault_settings(environ, vault.url)
    assert start_auth(settings) == 200
    vault.rotate_out_all_keys()
    assert "does not open the private keys sealed" in str(refusal_at_start(settings))


def test_wrong_transit_mount_is_refused_at_start(
    vault: _TransitStandIn, environ: dict[str, str]
) -> None:
    settings = Settings.from_env(
        environ
        | {
            "STAFETT_KEK_BACKEND": "vault",
            "STAFETT_VAULT_ADDR": vault.url,
            "STAFETT_VAULT_TOKEN": TOKEN,
            "STAFETT_VAULT_TRANSIT_MOUNT": "kv",
        }
    )
    assert "STAFETT_VAULT_TRANSIT_MOUNT" in str(refusal_at_start(settings))
