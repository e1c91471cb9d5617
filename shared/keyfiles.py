"""Signing keys kept as JWK files, for the clients of auth (the portal's `private_key_jwt`).

In local mode a missing key is generated (mode 0600) with its public half beside it, so that
`make run` works on a fresh machine; in production a missing key file is an error.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from joserfc.jwk import KeySet, OKPKey

from shared.settings import Mode, SettingsError

__all__ = ["load_or_create_signing_jwk", "load_public_jwks", "public_path_for"]


def public_path_for(private_path: Path) -> Path:
    return private_path.with_name(private_path.stem + ".public.json")


def load_or_create_signing_jwk(private_path: Path, *, mode: Mode) -> OKPKey:
    """Load an Ed25519 private JWK; create it (and its public JWKS beside it) in local mode."""
    if not private_path.exists():
        if mode is Mode.PRODUCTION:
            raise SettingsError(f"the key file {private_path} does not exist")
        key = OKPKey.generate_key(
            "Ed25519", parameters={"kid": secrets.token_urlsafe(12), "use": "sig"}
        )
        private_path.parent.mkdir(parents=True, exist_ok=True)
        public_json = json.dumps({"keys": [key.as_dict(private=False)]})
        _write_atomically(public_path_for(private_path), public_json, 0o644)
        _write_atomically(private_path, json.dumps(key.as_dict(private=True)), 0o600)
    try:
        key = OKPKey.import_key(json.loads(private_path.read_text()))
    except (ValueError, KeyError) as error:
        raise SettingsError(f"the key file {private_path} is not an OKP JWK") from error
    if not key.is_private or key.curve_name != "Ed25519":
        raise SettingsError(f"the key file {private_path} must hold a private Ed25519 key")
    return key


def load_public_jwks(path: Path) -> KeySet:
    """Load a JWKS of public keys (the portal's, as auth sees it)."""
    try:
        key_set = KeySet.import_key_set(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError) as error:
        raise SettingsError(f"the key file {path} is not a readable JWKS") from error
    if any(key.is_private for key in key_set.keys):
        raise SettingsError(f"the key file {path} must hold only public keys")
    return key_set


def _write_atomically(path: Path, content: str, file_mode: int) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, file_mode)
    with os.fdopen(fd, "w") as file:
        file.write(content)
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
