"""Encryption at rest for environment secrets (Fernet: AES-128-CBC + HMAC-SHA256).

The key comes from SECRETS_ENCRYPTION_KEY, or is derived from SECRET_KEY, so a copied
database alone does not reveal secrets.
"""

from __future__ import annotations

import base64
import hashlib
import os
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


@lru_cache(maxsize=4)
def _fernet(key_material: str) -> Fernet:
    digest = hashlib.sha256(("meshhook-secrets:" + key_material).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _current() -> Fernet:
    return _fernet(os.environ.get("SECRETS_ENCRYPTION_KEY") or settings.SECRET_KEY)


def encrypt(value: str) -> str:
    return _current().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError("A secret cannot be decrypted with the current key.") from None
