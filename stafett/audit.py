"""`stafett audit verify`: recompute every access log chain in logg's database and check the
signed heads (the logic is services.logg.audit.verify_database)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path

from joserfc.jwk import KeySet, OKPKey

from services.logg.audit import verify_database
from services.logg.settings import Settings
from shared.keyfiles import load_public_jwks, public_path_for
from shared.settings import SettingsError

__all__ = ["audit_public_keys", "verify_command"]


def audit_public_keys(key_file: Path) -> KeySet:
    """The public half of logg's audit key: the JWKS beside the key file, else the key file."""
    public_path = public_path_for(key_file)
    if public_path.exists():
        return load_public_jwks(public_path)
    try:
        key = OKPKey.import_key(json.loads(key_file.read_text()))
    except (OSError, ValueError, KeyError) as error:
        raise SettingsError(f"the audit key file {key_file} cannot be read") from error
    return KeySet([OKPKey.import_key(key.as_dict(private=False))])


def verify_command(environ: Mapping[str, str]) -> int:
    """Print "OK" with counts and return 0, or the first broken link and return 1."""
    settings = Settings.from_env(environ)
    keys = audit_public_keys(Path(settings.audit_key_file))
    report = asyncio.run(verify_database(settings.database_url, keys))
    counts = (
        f"{report.logs} logs, {report.records} access records, {report.signed_heads} signed heads"
    )
    if report.broken is None:
        print(f"OK: {counts}")
        return 0
    broken = report.broken
    print(f"BROKEN: stafettlogg {broken.stafettlogg_id}, record {broken.seq}: {broken.problem}")
    print(f"checked before the break: {counts}")
    return 1
