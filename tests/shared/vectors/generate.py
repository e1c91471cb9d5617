"""Regenerate the crypto test vectors of format version 1 (docs/crypto.md, "Test vectors").

Run from the repository root:

    .venv/bin/python -m tests.shared.vectors.generate            # rewrite envelope-v1.json
    .venv/bin/python -m tests.shared.vectors.generate --check    # exit 1 if it is out of date
    .venv/bin/python -m tests.shared.vectors.generate --new-key-grant

Everything is deterministic except the key grant: HPKE encryption draws a fresh ephemeral key,
so the stored wrapped bytes are kept as long as they still open to the stored epoch key, and
only made anew with `--new-key-grant` (or when they no longer open).

Not a test module: pytest does not collect it; tests/shared/test_vectors.py checks the file.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric import ed25519

from shared.crypto.envelope import EnvelopeHeader, _seal_envelope_with
from shared.crypto.hpke import KeyGrantContext, unwrap_epoch_key, wrap_epoch_key
from shared.crypto.keys import ParticipantKeys

VECTORS_FILE = Path(__file__).with_name("envelope-v1.json")

# Fixed, public, synthetic inputs. Never use them for anything but these vectors.
PARTICIPANTS: dict[str, ParticipantKeys] = {
    "recipient": ParticipantKeys(
        mlkem_seed=bytes(range(0x00, 0x40)),
        x25519_private=bytes(range(0x40, 0x60)),
        ed25519_private=bytes(range(0x60, 0x80)),
    ),
    "author": ParticipantKeys(
        mlkem_seed=bytes(range(0x80, 0xC0)),
        x25519_private=bytes(range(0xC0, 0xE0)),
        ed25519_private=bytes(range(0xE0, 0x100)),
    ),
    "other": ParticipantKeys(
        mlkem_seed=bytes([0x11]) * 64,
        x25519_private=bytes([0x22]) * 32,
        ed25519_private=bytes([0x33]) * 32,
    ),
}
EPOCH_KEY = bytes.fromhex("a0" * 16 + "b1" * 16)
ENTRY_KEY = bytes.fromhex("c2" * 16 + "d3" * 16)
KEY_NONCE = bytes.fromhex("000102030405060708090a0b")
BODY_NONCE = bytes.fromhex("f0f1f2f3f4f5f6f7f8f9fafb")
GRANT_CONTEXT = KeyGrantContext("log-vector-1", 1, "person", "p_recipient")
OTHER_GRANT_CONTEXTS = (
    ("another log", KeyGrantContext("log-vector-2", 1, "person", "p_recipient")),
    ("another epoch", KeyGrantContext("log-vector-1", 2, "person", "p_recipient")),
    ("another recipient kind", KeyGrantContext("log-vector-1", 1, "service", "p_recipient")),
    ("another recipient", KeyGrantContext("log-vector-1", 1, "person", "p_other")),
)
HEADER = EnvelopeHeader(
    version=1,
    stafettlogg_id="log-vector-1",
    entry_id="entry-vector-1",
    epoch=1,
    author="p_author",
    type="observation",
    created_at="2026-11-22T10:00:00Z",
)
PLAINTEXT = json.dumps(
    {"v": 1, "text": "Emma sov godt \u2013 første natt uten å våkne", "kind": "observation"},
    ensure_ascii=False,
    separators=(",", ":"),
).encode()


def participant_vector(name: str, keys: ParticipantKeys) -> dict[str, Any]:
    public = keys.public()
    return {
        "name": name,
        "private_key": keys.to_bytes().hex(),
        "mlkem_seed": keys.mlkem_seed.hex(),
        "x25519_private": keys.x25519_private.hex(),
        "ed25519_private": keys.ed25519_private.hex(),
        "hpke_public": public.hpke_public.hex(),
        "sign_public": public.sign_public.hex(),
    }


def context_json(context: KeyGrantContext) -> dict[str, Any]:
    return {
        "stafettlogg_id": context.stafettlogg_id,
        "epoch": context.epoch,
        "recipient_kind": context.recipient_kind,
        "recipient_id": context.recipient_id,
    }


def key_grant_vector(wrapped: bytes) -> dict[str, Any]:
    return {
        "suite": {
            "mode": "base (0x00)",
            "kem": "MLKEM768-X25519 (0x647A)",
            "kdf": "HKDF-SHA256 (0x0001)",
            "aead": "AES-256-GCM (0x0002)",
        },
        "recipient": "recipient",
        "context": context_json(GRANT_CONTEXT),
        "info": GRANT_CONTEXT.info().hex(),
        "wrapped": wrapped.hex(),
        "epoch_key": EPOCH_KEY.hex(),
        "negative": [
            {
                "reason": reason,
                "context": context_json(context),
                "info": context.info().hex(),
            }
            for reason, context in OTHER_GRANT_CONTEXTS
        ],
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def envelope_vector() -> dict[str, Any]:
    author = PARTICIPANTS["author"]
    sealed = _seal_envelope_with(
        PLAINTEXT,
        header=HEADER,
        epoch_key=EPOCH_KEY,
        author_key=author.signing_key(),
        entry_key=ENTRY_KEY,
        key_nonce=KEY_NONCE,
        body_nonce=BODY_NONCE,
    )
    aad = HEADER.associated_data()

    moved_header = msgspec.structs.replace(HEADER, entry_id="entry-vector-2")
    moved = msgspec.structs.replace(sealed, header=moved_header)
    moved_resigned = msgspec.structs.replace(
        moved, signature=author.signing_key().sign(moved.signed_bytes())
    )
    other_key: ed25519.Ed25519PrivateKey = PARTICIPANTS["other"].signing_key()
    forged = msgspec.structs.replace(sealed, signature=other_key.sign(sealed.signed_bytes()))

    return {
        "inputs": {
            "author": "author",
            "epoch_key": EPOCH_KEY.hex(),
            "entry_key": ENTRY_KEY.hex(),
            "key_nonce": KEY_NONCE.hex(),
            "body_nonce": BODY_NONCE.hex(),
            "header": msgspec.to_builtins(HEADER),
            "plaintext": PLAINTEXT.hex(),
            "plaintext_utf8": PLAINTEXT.decode(),
        },
        "expected": {
            "aad": aad.decode(),
            "aad_hex": aad.hex(),
            "wrapped_entry_key": sealed.wrapped_entry_key.hex(),
            "ciphertext": sealed.ciphertext.hex(),
            "signed_bytes": sealed.signed_bytes().hex(),
            "signature": sealed.signature.hex(),
            "wire": msgspec.json.encode(sealed).decode(),
        },
        "negative": [
            {
                "name": "header_changed",
                "reason": "entry_id changed after sealing; the signature no longer matches",
                "wire": msgspec.json.encode(moved).decode(),
                "signature_valid": False,
            },
            {
                "name": "header_changed_and_resigned",
                "reason": "entry_id changed and re-signed by the author; the signature is "
                "valid but both AEAD tags fail, since the header is the associated data",
                "wire": msgspec.json.encode(moved_resigned).decode(),
                "signature_valid": True,
            },
            {
                "name": "signed_by_another_key",
                "reason": "the same header, wrapped key and ciphertext signed with participant "
                "'other's Ed25519 key; it does not verify under the author's key",
                "wire": msgspec.json.encode(forged).decode(),
                "signature": forged.signature.hex(),
                "signature_valid": False,
            },
        ],
        "wire_encoding": "JSON; byte strings standard base64 with padding, e.g. signature = "
        + _b64(sealed.signature),
    }


def build_vectors(wrapped_key_grant: bytes) -> dict[str, Any]:
    return {
        "format_version": 1,
        "description": "Test vectors for stafettlogg's crypto format version 1; see "
        "docs/crypto.md, section 'Test vectors'. Byte strings are lowercase hex unless "
        "a field says otherwise. Regenerate with tests/shared/vectors/generate.py.",
        "participant_keys": [participant_vector(name, keys) for name, keys in PARTICIPANTS.items()],
        "key_grant": key_grant_vector(wrapped_key_grant),
        "envelope": envelope_vector(),
    }


def stored_key_grant(path: Path) -> bytes | None:
    """The stored wrapped key grant, if there is one and it still opens to EPOCH_KEY."""
    try:
        wrapped = bytes.fromhex(json.loads(path.read_text())["key_grant"]["wrapped"])
        opened = unwrap_epoch_key(wrapped, PARTICIPANTS["recipient"], GRANT_CONTEXT)
    except Exception:  # any missing, stale or unreadable file: make a new grant
        return None
    return wrapped if opened == EPOCH_KEY else None


def render(vectors: dict[str, Any]) -> str:
    return json.dumps(vectors, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only compare with the stored file")
    parser.add_argument("--new-key-grant", action="store_true", help="wrap the epoch key anew")
    parser.add_argument("--output", type=Path, default=VECTORS_FILE)
    args = parser.parse_args(argv)

    wrapped = None if args.new_key_grant else stored_key_grant(args.output)
    if wrapped is None:
        if args.check:
            print(f"{args.output}: no key grant that opens", file=sys.stderr)
            return 1
        wrapped = wrap_epoch_key(EPOCH_KEY, PARTICIPANTS["recipient"].public(), GRANT_CONTEXT)
    text = render(build_vectors(wrapped))
    if args.check:
        if args.output.read_text() != text:
            print(f"{args.output} is out of date", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
