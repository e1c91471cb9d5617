"""Participant key pairs: one for key agreement (HPKE), one for signing (Ed25519).

The HPKE key is the hybrid ML-KEM-768 + X25519 pair (draft-ietf-hpke-pq, as offered by
`cryptography`): logs about children are kept for decades, so wrapped keys must resist a
future quantum adversary who records them today.

Serialised forms are raw bytes with a one-byte version prefix, so that a later suite can be
told apart from this one.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import ed25519, mlkem, x25519

__all__ = [
    "KEY_FORMAT_VERSION",
    "ParticipantKeys",
    "PublicKeys",
    "generate_participant_keys",
]

KEY_FORMAT_VERSION = 1
_MLKEM_SEED = 64
_MLKEM_PUBLIC = 1184
_X25519 = 32
_ED25519 = 32
_PRIVATE_LEN = 1 + _MLKEM_SEED + _X25519 + _ED25519
_HPKE_PUBLIC_LEN = 1 + _MLKEM_PUBLIC + _X25519


@dataclass(frozen=True, slots=True)
class PublicKeys:
    """The public half of a participant's keys, as registered with logg and the directory."""

    hpke_public: bytes  # version || ML-KEM-768 encapsulation key || X25519 public key
    sign_public: bytes  # raw Ed25519 public key

    def __post_init__(self) -> None:
        if len(self.hpke_public) != _HPKE_PUBLIC_LEN or self.hpke_public[0] != KEY_FORMAT_VERSION:
            raise ValueError("not an HPKE public key of a known version")
        if len(self.sign_public) != _ED25519:
            raise ValueError("not an Ed25519 public key")

    def hpke_key(self) -> hpke.MLKEM768X25519PublicKey:
        body = self.hpke_public[1:]
        return hpke.MLKEM768X25519PublicKey(
            mlkem.MLKEM768PublicKey.from_public_bytes(body[:_MLKEM_PUBLIC]),
            x25519.X25519PublicKey.from_public_bytes(body[_MLKEM_PUBLIC:]),
        )

    def signing_key(self) -> ed25519.Ed25519PublicKey:
        return ed25519.Ed25519PublicKey.from_public_bytes(self.sign_public)


@dataclass(frozen=True, slots=True)
class ParticipantKeys:
    """A participant's private keys. Never stored unsealed; see services/auth custody."""

    mlkem_seed: bytes
    x25519_private: bytes
    ed25519_private: bytes

    @classmethod
    def from_bytes(cls, data: bytes) -> ParticipantKeys:
        if len(data) != _PRIVATE_LEN or data[0] != KEY_FORMAT_VERSION:
            raise ValueError("not participant keys of a known version")
        seed_end = 1 + _MLKEM_SEED
        x_end = seed_end + _X25519
        return cls(data[1:seed_end], data[seed_end:x_end], data[x_end:])

    def to_bytes(self) -> bytes:
        return (
            bytes([KEY_FORMAT_VERSION])
            + self.mlkem_seed
            + self.x25519_private
            + self.ed25519_private
        )

    def hpke_key(self) -> hpke.MLKEM768X25519PrivateKey:
        return hpke.MLKEM768X25519PrivateKey(
            mlkem.MLKEM768PrivateKey.from_seed_bytes(self.mlkem_seed),
            x25519.X25519PrivateKey.from_private_bytes(self.x25519_private),
        )

    def signing_key(self) -> ed25519.Ed25519PrivateKey:
        return ed25519.Ed25519PrivateKey.from_private_bytes(self.ed25519_private)

    def public(self) -> PublicKeys:
        mlkem_public = mlkem.MLKEM768PrivateKey.from_seed_bytes(self.mlkem_seed).public_key()
        x_public = x25519.X25519PrivateKey.from_private_bytes(self.x25519_private).public_key()
        return PublicKeys(
            hpke_public=bytes([KEY_FORMAT_VERSION])
            + mlkem_public.public_bytes_raw()
            + x_public.public_bytes_raw(),
            sign_public=self.signing_key().public_key().public_bytes_raw(),
        )


def generate_participant_keys() -> ParticipantKeys:
    """Fresh key pairs from the operating system's CSPRNG."""
    return ParticipantKeys(
        mlkem_seed=mlkem.MLKEM768PrivateKey.generate().private_bytes_raw(),
        x25519_private=x25519.X25519PrivateKey.generate().private_bytes_raw(),
        ed25519_private=ed25519.Ed25519PrivateKey.generate().private_bytes_raw(),
    )
