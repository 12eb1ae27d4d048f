"""Sealed text: how a sensitive ticket's words and personal data rest in the read models.

The event store encrypts every event; the read models would otherwise hold a sensitive ticket's
title, description, notes and the reporter's contact details in the clear, in the database files
and the WAL. They hold them sealed instead (AES-GCM under a key derived from the cipher key, so
that nothing more needs keeping), and the API unseals them for the callers cleared to read them.

A sealed value is text: `sealed:v1:<key id>:<base64 of nonce and ciphertext>`. The key id lets a
process that knows several keys (tests, a key being rotated) unseal each value with its own.
Sealing is deterministic (the nonce is an HMAC of the ticket and the text, as in AES-SIV), so that
a rebuild writes exactly the rows the live projection wrote; it tells only that a ticket's text
is the same as another of the same ticket's, nothing across tickets.
Every process that holds a Docket application knows its key (commands.app registers it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "sealed:v1:"
JSON_KEY = "sealed"  # a sealed JSON document is {"sealed": "<sealed text of its JSON>"}

_keys: dict[str, tuple[AESGCM, bytes]] = {}  # key id -> the cipher, and the key the nonces are made with
_current: str | None = None


class NotSealable(RuntimeError):
    """No key to seal with (no application in this process), or none for a sealed value's key id."""


def use_key(cipher_key: str) -> None:
    """Registers the read models' key derived from the application's cipher key (base64) and seals
    with it from now on."""
    global _current
    secret = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=b"docket read models").derive(base64.b64decode(cipher_key))
    key_id = hashlib.sha256(secret).hexdigest()[:8]
    _keys.setdefault(key_id, (AESGCM(secret[:32]), secret[32:]))
    _current = key_id


def seal(text: str | None, ticket: object) -> str | None:
    """The text sealed, bound to the ticket it belongs to (its id)."""
    if text is None:
        return None
    if _current is None:
        raise NotSealable("No key to seal a sensitive ticket's text with: no application in this process.")
    cipher, nonce_key = _keys[_current]
    plain, context = text.encode(), str(ticket).encode()
    nonce = hmac.new(nonce_key, context + b"\0" + plain, hashlib.sha256).digest()[:12]
    sealed = cipher.encrypt(nonce, plain, context)
    return f"{PREFIX}{_current}:{base64.b64encode(nonce + sealed).decode()}"


def unseal(value: Any, ticket: object) -> Any:
    """The text a sealed value holds; anything else (text from before sealing) as it is. Only a
    sensitive ticket's sealed columns are unsealed: an ordinary ticket's text that happens to look
    sealed is the reporter's words, shown as they are."""
    if not isinstance(value, str) or not value.startswith(PREFIX):
        return value
    key_id, _, data = value.removeprefix(PREFIX).partition(":")
    if key_id not in _keys:
        raise NotSealable(f"No key {key_id} in this process to unseal a sensitive ticket's text with.")
    raw = base64.b64decode(data)
    return _keys[key_id][0].decrypt(raw[:12], raw[12:], str(ticket).encode()).decode()


def seal_json(document: Any, ticket: object) -> Any:
    return None if document is None else {JSON_KEY: seal(json.dumps(document, sort_keys=True), ticket)}


def unseal_json(document: Any, ticket: object) -> Any:
    if isinstance(document, dict) and set(document) == {JSON_KEY}:
        return json.loads(unseal(document[JSON_KEY], ticket))
    return document
