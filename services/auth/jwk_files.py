"""RSA signing keys kept as JWK files: auth's client key at the identity providers (ID-porten
and Ansattporten accept RS256 client assertions) and the test IdP's ID-token key.

In local mode a missing key is generated (mode 0600) with its public JWKS beside it, to be
registered with the provider; in production a missing key file is an error.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from joserfc.jwk import RSAKey

from shared.keyfiles import public_path_for
from shared.settings import Mode, SettingsError

__all__ = ["load_or_create_rsa_jwk"]

_RSA_BITS = 2048  # the minimum ID-porten accepts; generation stays quick


def load_or_create_rsa_jwk(private_path: Path, *, mode: Mode) -> RSAKey:
    """Load an RSA private JWK (with a kid); create it and its public JWKS in local mode."""
    if not private_path.exists():
        if mode is Mode.PRODUCTION:
            raise SettingsError(f"the key file {private_path} does not exist")
        key = RSAKey.generate_key(
            _RSA_BITS, parameters={"kid": secrets.token_urlsafe(12), "use": "sig", "alg": "RS256"}
        )
        private_path.parent.mkdir(parents=True, exist_ok=True)
        _write_once(private_path, json.dumps(key.as_dict(private=True)), 0o600)
    try:
        key = RSAKey.import_key(json.loads(private_path.read_text()))
    except (OSError, ValueError, KeyError) as error:
        raise SettingsError(f"the key file {private_path} is not an RSA JWK") from error
    if not key.is_private or key.kid is None:
        raise SettingsError(f"the key file {private_path} must hold a private RSA key with a kid")
    public_path = public_path_for(private_path)
    if mode is Mode.LOCAL and not public_path.exists():
        _write_once(public_path, json.dumps({"keys": [key.as_dict(private=False)]}), 0o644)
    return key


def _write_once(path: Path, content: str, file_mode: int) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, file_mode)
    with os.fdopen(fd, "w") as file:
        file.write(content)
    try:  # atomic: two processes starting together end up with the same key
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
