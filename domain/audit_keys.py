"""The audit key: Ed25519, to sign chain checkpoints and exports, and its public half to check them.

A key is given as PEM (PKCS#8 for the private key, SubjectPublicKeyInfo for the public one) or, for
the private key, as the base64 of its 32 bytes (how Docket generates and keeps one in the data
dir). Its id is the first 16 hex digits of the SHA-256 of the 32 bytes of its public key: a
checkpoint names the key that signed it, and a verifier that holds another key says so.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


class BadKey(ValueError):
    """A key that is not an Ed25519 key in a form Docket reads."""


@dataclass(frozen=True)
class VerifyKey:
    public: Ed25519PublicKey

    @property
    def key_id(self) -> str:
        return hashlib.sha256(self.public.public_bytes(*RAW)).hexdigest()[:16]

    @property
    def pem(self) -> str:
        return self.public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def verifies(self, message: bytes, signature: str) -> bool:
        """Whether `signature` (base64) is this key's over `message`; anything malformed is False."""
        try:
            raw = base64.b64decode(signature, validate=True)
            if base64.b64encode(raw).decode() != signature:  # one signature, one spelling: no altered padding bits
                return False
            self.public.verify(raw, message)
        except (InvalidSignature, binascii.Error, ValueError, TypeError):
            return False
        return True


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey

    @property
    def verify_key(self) -> VerifyKey:
        return VerifyKey(self.private.public_key())

    @property
    def key_id(self) -> str:
        return self.verify_key.key_id

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.private.sign(message)).decode()


def new_signing_key_text() -> str:
    """A fresh private key, as the base64 of its 32 bytes."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def signing_key_from_text(text: str) -> SigningKey:
    """The private key in `text` (PEM PKCS#8, or base64 of 32 bytes); BadKey when it is neither."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError) as error:
            raise BadKey(f"not a readable PEM private key ({error})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise BadKey("the PEM key is not an Ed25519 key")
        return SigningKey(key)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadKey("neither PEM nor base64") from None
    if len(raw) != 32:
        raise BadKey(f"base64 of {len(raw)} bytes; an Ed25519 private key is 32")
    return SigningKey(Ed25519PrivateKey.from_private_bytes(raw))


def verify_key_from_pem(data: bytes) -> VerifyKey:
    """The public key in PEM `data` (a private key's PEM gives its public half); BadKey else."""
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        try:
            return signing_key_from_text(data.decode("utf-8", "strict")).verify_key
        except (BadKey, UnicodeDecodeError):
            raise BadKey("not an Ed25519 public key in PEM form") from None
    if not isinstance(key, Ed25519PublicKey):
        raise BadKey("the PEM key is not an Ed25519 key")
    return VerifyKey(key)
